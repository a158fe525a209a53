"""``/metrics`` parses with prometheus_client's text-format parser and its counters move as builds and
queries run; requests, builds and scheduler rounds write one JSON log line each."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from meshplane.workspace import Mesh
from meshplane.workspace.logs import JsonFormatter
from server.helpers import CONSUMER, OWNER, bearer

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, tokens: dict[str, str]) -> Samples:
    client.app.state.metrics_registry = None  # type: ignore[attr-defined]  # a fresh collector: no cached figures
    response = client.get("/metrics", headers=bearer(tokens, CONSUMER))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("meshplane")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_metrics_parse_and_move_with_builds_and_queries(client: TestClient, tokens: dict[str, str], mesh: Mesh,
                                                        json_logs: io.StringIO) -> None:  # fmt: skip
    assert client.get("/metrics").status_code == 401  # a scraper authenticates with an API token
    before = scrape(client, tokens)
    for name in ("meshplane_builds_total", "meshplane_checks_total", "meshplane_active_grants",
                 "meshplane_query_duration_seconds_count", "meshplane_notification_deliveries"):  # fmt: skip
        assert any(n == name for n, _ in before), name
    ok = client.post("/api/v1/query", headers=bearer(tokens, CONSUMER),
                     json={"sql": "SELECT count(*) AS n FROM podcasts.catalog.shows"})  # fmt: skip
    assert ok.status_code == 200
    denied = client.post("/api/v1/query", headers=bearer(tokens, OWNER),  # a podcasts engineer: private port
                         json={"sql": "SELECT * FROM royalties.rights_holders.royalty_rates"})  # fmt: skip
    assert denied.status_code == 403
    assert mesh.build(["podcasts.catalog"], full_refresh=True).ok
    after = scrape(client, tokens)
    product = "podcasts.catalog"
    assert total(after, "meshplane_builds_total", product=product, status="success") == (
        total(before, "meshplane_builds_total", product=product, status="success") + 1
    )
    assert total(after, "meshplane_queries_total", outcome="allowed") == total(
        before, "meshplane_queries_total", outcome="allowed") + 1  # fmt: skip
    assert total(after, "meshplane_queries_total", outcome="denied") == total(
        before, "meshplane_queries_total", outcome="denied") + 1  # fmt: skip
    assert total(after, "meshplane_query_duration_seconds_count") >= total(
        before, "meshplane_query_duration_seconds_count") + 1  # fmt: skip
    assert total(after, "meshplane_checks_total", outcome="passed") > total(
        before, "meshplane_checks_total", outcome="passed")  # fmt: skip
    assert total(after, "meshplane_build_duration_seconds_count", status="success") == total(
        before, "meshplane_build_duration_seconds_count", status="success") + 1  # fmt: skip
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    requests = [x for x in lines if x["event"] == "request" and x["path"] == "/api/v1/query"]
    assert [(r["status"], r["user"]) for r in requests] == [(200, CONSUMER), (403, OWNER)]
    builds = [x for x in lines if x["event"] == "build"]
    assert [(b["product"], b["status"]) for b in builds] == [(product, "success")]


def test_the_scheduler_logs_every_round_and_reports_its_lag(client: TestClient, tokens: dict[str, str], mesh: Mesh,
                                                            json_logs: io.StringIO) -> None:  # fmt: skip
    rounds: list[float] = []
    mesh.run_scheduler(interval=0, stop=lambda: bool(rounds), sleep=rounds.append)
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    [round_] = [x for x in lines if x["event"] == "scheduler_round"]
    assert round_["lag_seconds"] >= 0 and isinstance(round_["due"], list)
    samples = scrape(client, tokens)
    assert total(samples, "meshplane_scheduler_due_products") == len(round_["due"])
    assert total(samples, "meshplane_scheduler_last_round_timestamp_seconds") > 0
