"""A query whose child process dies before it sends the first rows (a crash, not a limit) runs once more in a
fresh child (meshplane.engines.duckdb_isolated); a query that kills every child it gets, or that a limit
stopped, is not run again.

The openers live at module level: children import them by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from duckdb import OutOfMemoryException

from meshplane.engines.duckdb_isolated import IsolatedSandbox
from meshplane.engines.duckdb_sandbox import DuckDBSandbox, QueryInterrupted, SandboxLimits


def _attempt(attempts: str) -> None:
    with open(attempts, "a") as tally:
        tally.write("x")


def abort_once(sandbox: DuckDBSandbox, attempts: str, sql: str) -> tuple[Any, str]:
    """The first attempt ends its process the way a crashing extension does (SIGABRT), the next runs ``sql``."""
    first = not Path(attempts).exists()
    _attempt(attempts)
    if first:
        os.abort()
    return sandbox.connect_warm("rita", ()), sql


def abort_always(sandbox: DuckDBSandbox, attempts: str) -> tuple[Any, str]:
    _attempt(attempts)
    os.abort()


def counted(sandbox: DuckDBSandbox, attempts: str, sql: str) -> tuple[Any, str]:
    _attempt(attempts)
    return sandbox.connect_warm("rita", ()), sql


@pytest.fixture(scope="module")
def sandbox() -> Iterator[IsolatedSandbox]:
    isolated = IsolatedSandbox(SandboxLimits(memory_limit="256MB", threads=1, timeout_seconds=5.0), prewarm=False)
    yield isolated
    isolated.close()


def _tries(attempts: Path) -> int:
    return len(attempts.read_text()) if attempts.exists() else 0


def test_a_query_whose_child_crashes_before_answering_runs_again_in_a_fresh_child(
    sandbox: IsolatedSandbox, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts"
    with sandbox.open("rita", abort_once, str(attempts), "SELECT 42 AS answer") as stream:
        table = stream.read_all()
    assert table.column("answer").to_pylist() == [42]
    assert _tries(attempts) == 2


def test_a_query_that_kills_every_child_it_gets_is_tried_twice_then_stops(
    sandbox: IsolatedSandbox, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts"
    stream = sandbox.open("rita", abort_always, str(attempts))
    with pytest.raises(QueryInterrupted, match="worker process stopped"), stream:
        stream.read_all()
    assert _tries(attempts) == 2
    with sandbox.open("rita", counted, str(tmp_path / "after"), "SELECT 1 AS one") as stream:
        assert stream.read_all().column("one").to_pylist() == [1]  # the pool still serves


def test_a_query_a_limit_stopped_is_not_run_again(sandbox: IsolatedSandbox, tmp_path: Path) -> None:
    memory, time = tmp_path / "memory", tmp_path / "time"
    stream = sandbox.open("rita", counted, str(memory), "SELECT len(range(2000000000)) AS n")
    with pytest.raises(OutOfMemoryException), stream:
        stream.read_all()
    long = "SELECT sum(a.range * b.range) FROM range(100000) a, range(100000) b"
    stream = sandbox.open("rita", counted, str(time), long)
    with pytest.raises(QueryInterrupted, match="ran longer than"), stream:
        stream.read_all()
    assert (_tries(memory), _tries(time)) == (1, 1)
