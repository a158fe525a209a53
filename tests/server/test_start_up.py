"""Start-up and mesh-wide summaries: the server does the first requests' one-time work before it serves, and
the home page's health (aggregated in SQL) says what each product's own health says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from meshplane.catalog import CheckResult, RunRecord, RunStatus, SloEvaluation
from meshplane.server import create_app
from meshplane.server.portal import templates
from meshplane.workspace import Mesh
from meshplane.workspace.exploring import glossary_view
from server.helpers import copy_media

STEPS = {"query process", "routes", "catalog", "column lineage", "join keys", "product lineage", "ownership facts",
         "home summary", "governance", "product page", "templates", "pyarrow"}  # fmt: skip


def test_the_server_does_its_one_time_work_before_the_first_request(mesh: Mesh) -> None:
    app = create_app(mesh, dev_mode=True)
    service = app.state.discovery
    assert "column_edges" not in service.__dict__  # nothing is computed by building the app
    with TestClient(app, base_url="http://testserver"):
        timings = app.state.warm_up
        assert set(timings) == STEPS and all(ms >= 0 for ms in timings.values())
        assert "column_edges" in service.__dict__  # computed once, before any request
        assert {"home.html", "product.html", "glossary.html"} <= {t.name for t in templates.env.cache.values()}
        assert glossary_view(service) == glossary_view(service)  # join keys kept, the same answer


def test_a_server_without_warm_up_computes_on_first_use(mesh: Mesh) -> None:
    app = create_app(mesh, dev_mode=True, warm=False)
    with TestClient(app, base_url="http://testserver"):
        assert not hasattr(app.state, "warm_up")
        assert "column_edges" not in app.state.discovery.__dict__


def test_home_page_health_is_each_products_own_health(tmp_path: Path) -> None:
    """Unbuilt, healthy, a failed newest run, failed checks of the newest success, a breached SLO among a port's
    newest four evaluations, and a breach that is older than that: the SQL summary and the per-product rule agree."""
    root = copy_media(tmp_path, build=False)
    now = datetime.now(UTC)
    with Mesh.open(root) as opened:
        app = create_app(opened, dev_mode=True, warm=False)
        service = app.state.discovery
        writer = opened.platform.catalog.writer
        products = service.reader.products()
        assert len(products) >= 6
        healthy, failed, checks, breached, recovered, *unbuilt = products

        def run(product: str, status: RunStatus, minutes_ago: int) -> str:
            run_id = f"{product}-{minutes_ago}"
            at = now - timedelta(minutes=minutes_ago)
            writer.record_run(RunRecord(run_id, product, status, at, ended_at=at, engine="duckdb"))
            return run_id

        for product in (healthy, checks, breached, recovered):
            run(product.address, RunStatus.SUCCESS, 30)
        run(failed.address, RunStatus.SUCCESS, 60)
        run(failed.address, RunStatus.FAILED, 20)
        run(failed.address, RunStatus.RUNNING, 1)  # a running build does not count as the newest finished
        run(healthy.address, RunStatus.RUNNING, 1)
        newest = run(checks.address, RunStatus.SUCCESS, 10)
        port = checks.ports[0].address
        writer.record_check_results(newest, [CheckResult(f"{port}.rows", port, False, "rowCount", None, 0.0, "> 0")])
        for product, breaches in ((breached, (0,)), (recovered, (4,))):  # newest first: evaluation 4 is the fifth
            target = product.ports[0].address
            writer.record_slo_evaluations([
                SloEvaluation(target, "latency", "breached" if n in breaches else "met", 1.0, 1.0,
                              evaluated_at=now - timedelta(minutes=n))
                for n in range(6)
            ])  # fmt: skip
        summary = service.overview()["status"]
        each = {address: h.status for address, h in service.health_of(service.reader.products()).items()}
    assert summary == each
    assert (summary[healthy.address], summary[failed.address], summary[checks.address]) == (
        "healthy", "failing", "failing")  # fmt: skip
    assert (summary[breached.address], summary[recovered.address]) == ("failing", "healthy")
    assert {summary[p.address] for p in unbuilt} == {"unbuilt"}
