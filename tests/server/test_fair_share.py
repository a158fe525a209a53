"""Fair share over REST: one user's long queries never make another user's small query wait for a slot,
and the server keeps answering while a query is stopped at its limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.server import create_app
from meshplane.workspace import Mesh
from server.conftest import TestClient

SHOWS = "podcasts.catalog.shows"
LONG = f"SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b, {SHOWS}"


@pytest.fixture(scope="module")
def limited(media_path: Path) -> Iterator[tuple[TestClient, Mesh, dict[str, str]]]:
    with Mesh.open(media_path) as mesh:
        mesh.access.limits = SandboxLimits(memory_limit="256MB", threads=1, timeout_seconds=8.0)
        tokens = {u: mesh.access.create_token(u, name="fair share")[0] for u in ("raj", "chen")}
        # three query slots in the server: without a per-user share, raj's three long queries would take all
        with TestClient(create_app(mesh, queries=3), base_url="http://testserver") as client:
            yield client, mesh, tokens


@pytest.mark.slow
def test_one_users_long_queries_leave_room_for_another(limited: tuple[TestClient, Mesh, dict[str, str]]) -> None:
    client, mesh, tokens = limited
    raj = {"Authorization": f"Bearer {tokens['raj']}"}
    finished: list[int] = []
    lock = threading.Lock()

    def long_query() -> None:
        response = client.post("/api/v1/query", headers=raj, json={"sql": LONG})
        with lock:
            finished.append(response.status_code)

    threads = [threading.Thread(target=long_query) for _ in range(3)]
    for thread in threads:
        thread.start()
    pool = mesh.access.gateway.sandbox.pool
    while pool._running.get("raj", 0) < 2:  # raj's share is running (the third waits behind raj's own two)
        time.sleep(0.02)
    small = client.post("/api/v1/query", headers={"Authorization": f"Bearer {tokens['chen']}"},
                        json={"sql": f"SELECT count(*) AS n FROM {SHOWS}"})  # fmt: skip
    with lock:
        before_chen = list(finished)
    huge = client.post("/api/v1/query", headers={"Authorization": f"Bearer {tokens['chen']}"},
                       json={"sql": f"SELECT len(range(2000000000)) FROM {SHOWS}"})  # fmt: skip
    for thread in threads:  # every request ends before any assertion, so a failure cannot hang the client
        thread.join()
    assert before_chen == [], "chen's query waited for raj's long queries"
    assert small.status_code == 200 and small.json()["rows"][0][0] > 0
    assert huge.status_code == 400 and "memory limit" in huge.json()["detail"]
    assert finished == [400] * 3  # each stopped at its time limit
