"""Limits that hold: a query is stopped at its memory and time limits whatever it calls, the gateway's own
process stays small and keeps answering, and one user's long queries never hold another user's query back.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import ANALYST, CONSUMER_KEY, Mesh
from meshplane.access import QueryGateway
from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.errors import QueryRejected
from meshplane.types import Principal

R = "ref.regions.regions"
LONG = f"SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b, {R}"  # runs until stopped
OTHER = Principal("olga", frozenset({"royalties-team"}))


def test_memory_bound_stops_the_query_not_the_process(gateway: QueryGateway, resolver: Any) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for sql in (
        f"SELECT len(range(2000000000)) FROM {R}",
        f"SELECT length(repeat(repeat('x', 1000000), 3000)) FROM {R}",
    ):
        with pytest.raises(QueryRejected, match="memory limit"):
            gateway.run(sql, ANALYST, resolver, consumer_key=CONSUMER_KEY)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 256 * 1024, f"the gateway's own process grew by {grown_kib} KiB"
    answer = gateway.run(f"SELECT count(*) AS n FROM {R}", OTHER, resolver, consumer_key=CONSUMER_KEY)
    assert answer.table.column("n").to_pylist()[0] > 0


@pytest.fixture
def shared_gateway(mesh: Mesh) -> Iterator[QueryGateway]:
    limits = SandboxLimits(memory_limit="256MB", threads=1, timeout_seconds=2.0, processes=3, per_user=2)
    instance = QueryGateway(limits=limits, on_query=mesh.log.append, object_store=mesh.store)
    yield instance
    instance.close()


def test_long_queries_of_one_user_never_hold_back_another(shared_gateway: QueryGateway, resolver: Any) -> None:
    """rita keeps three long queries going on a three-process gateway; olga's small query answers at once."""
    finished: list[str] = []
    lock = threading.Lock()

    def long_query(name: str) -> None:
        with pytest.raises(QueryRejected, match="ran longer than"):
            shared_gateway.run(LONG, ANALYST, resolver, consumer_key=CONSUMER_KEY)
        with lock:
            finished.append(name)

    threads = [threading.Thread(target=long_query, args=(f"rita{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    pool = shared_gateway.sandbox.pool
    while len(pool._waiting) < 1:  # rita's third query waits for rita's own share, not for a free process
        time.sleep(0.01)
    answer = shared_gateway.run(f"SELECT count(*) AS n FROM {R}", OTHER, resolver, consumer_key=CONSUMER_KEY)
    with lock:
        assert finished == [], "olga's query waited for rita's queries"
    assert answer.table.column("n").to_pylist()[0] > 0
    for thread in threads:
        thread.join()
    assert sorted(finished) == ["rita0", "rita1", "rita2"]


def test_results_are_bounded_in_bytes(mesh: Mesh, resolver: Any) -> None:
    """A result that fits the query's memory row by row still may not flood the gateway's own process."""
    limits = SandboxLimits(memory_limit="256MB", threads=1, timeout_seconds=30.0, max_result_bytes=8 * 2**20)
    gateway = QueryGateway(limits=limits, on_query=mesh.log.append, object_store=mesh.store)
    try:
        with pytest.raises(QueryRejected, match="result is larger than 8 MB"):
            gateway.run(f"SELECT repeat(CAST(range AS VARCHAR), 50000) FROM range(100), {R}", ANALYST, resolver,
                        consumer_key=CONSUMER_KEY)  # fmt: skip
        small = gateway.run(f"SELECT repeat('x', 1000) AS s FROM range(100), {R}", ANALYST, resolver,
                            consumer_key=CONSUMER_KEY)  # fmt: skip
        assert small.rows > 0
    finally:
        gateway.close()
