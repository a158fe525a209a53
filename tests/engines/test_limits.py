"""Process-level limits (meshplane.engines.limits): memory, time and CPU bounds that hold whatever the work
calls, and a worker pool that shares its children fairly between owners.

The work functions live at module level: children import them by name.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from meshplane.engines.limits import ProcessLimits, RemoteError, WorkerPool, parse_bytes, prestart, run_limited
from meshplane.errors import LimitExceeded, UsageError

GiB = 2**30


def double(value: int) -> int:
    return value * 2


def allocate(gib: int) -> int:
    return len(bytearray(gib * GiB))


def sleep_forever() -> None:
    time.sleep(3600)


def spin() -> None:
    while True:
        pass


def fail_usage() -> None:
    raise UsageError("bad argument")


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickling calls __init__ with one argument: fails
        super().__init__(f"{a}/{b}")


def fail_unpicklable() -> None:
    raise Unpicklable(1, 2)


def environment() -> dict[str, str]:
    return dict(os.environ)


def duckdb_range(n: int) -> int:
    import duckdb

    connection = duckdb.connect(config={"memory_limit": "256MB", "threads": 1})
    row = connection.execute(f"SELECT len(range({n}))").fetchone()
    return int(row[0]) if row else -1


def wait_for(path: str) -> str:
    while not Path(path).exists():
        time.sleep(0.01)
    return path


def test_parse_bytes() -> None:
    assert parse_bytes("2GB") == 2 * 10**9
    assert parse_bytes("512MiB") == 512 * 2**20
    assert parse_bytes(7) == 7
    with pytest.raises(ValueError, match="memory size"):
        parse_bytes("lots")


def test_result_and_errors_come_back() -> None:
    limits = ProcessLimits(memory_bytes=2 * GiB, wall_seconds=30)
    assert run_limited(double, 21, limits=limits) == 42
    with pytest.raises(UsageError, match="bad argument"):
        run_limited(fail_usage, limits=limits)
    with pytest.raises(RemoteError, match="Unpicklable: 1/2"):
        run_limited(fail_unpicklable, limits=limits)


def test_memory_is_bounded_in_the_child() -> None:
    with pytest.raises(LimitExceeded) as stopped:
        run_limited(allocate, 8, limits=ProcessLimits(memory_bytes=2 * GiB, wall_seconds=30))
    assert stopped.value.limit == "memory"


def test_duckdb_allocations_outside_its_memory_limit_are_bounded() -> None:
    """len(range(2e9)) grew a process past 20 GB with DuckDB's memory_limit alone (FACTS.md)."""
    from duckdb import OutOfMemoryException

    with pytest.raises(OutOfMemoryException):
        run_limited(duckdb_range, 2_000_000_000, limits=ProcessLimits(memory_bytes=3 * GiB, wall_seconds=30))


def test_wall_time_kills_the_child() -> None:
    with pytest.raises(LimitExceeded) as stopped:
        run_limited(sleep_forever, limits=ProcessLimits(wall_seconds=0.5))
    assert stopped.value.limit == "time"


def test_cpu_seconds() -> None:
    with pytest.raises(LimitExceeded) as stopped:
        run_limited(spin, limits=ProcessLimits(cpu_seconds=1, wall_seconds=60))
    assert stopped.value.limit == "cpu"


def test_child_environment_is_minimal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHPLANE_CATALOG_URL", "postgresql://secret@db/catalog")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-children")
    env = run_limited(environment, limits=ProcessLimits(), env={"EXTRA": "1"})
    assert "MESHPLANE_CATALOG_URL" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["EXTRA"] == "1"


def test_pool_replaces_a_stopped_child_and_keeps_serving() -> None:
    pool = WorkerPool(ProcessLimits(memory_bytes=2 * GiB, wall_seconds=30), max_workers=2, per_owner=1)
    try:
        assert pool.call("a", double, 1) == 2
        with pytest.raises(LimitExceeded):
            pool.call("a", allocate, 8)
        with pytest.raises(LimitExceeded):
            pool.call("a", sleep_forever, limits=ProcessLimits(wall_seconds=0.3))
        assert pool.call("a", double, 2) == 4
        assert pool.call("b", double, 3) == 6
    finally:
        pool.close()


def test_one_owner_never_takes_every_child(tmp_path: Path) -> None:
    """Owner a keeps three calls busy on a three-child pool; owner b's call still gets a child at once."""
    pool = WorkerPool(ProcessLimits(wall_seconds=60), max_workers=3, per_owner=2)
    release = tmp_path / "release"
    done: list[str] = []
    lock = threading.Lock()

    def run(owner: str, call: str) -> None:
        pool.call(owner, wait_for, str(release))
        with lock:
            done.append(call)

    busy = [threading.Thread(target=run, args=("a", f"a{i}")) for i in range(3)]
    try:
        for thread in busy:
            thread.start()
        while len(pool._waiting) < 1:  # a's third call queues behind a's own share
            time.sleep(0.01)
        assert pool.call("b", double, 5) == 10  # would block until `release` without the per-owner share
        assert done == []
    finally:
        release.touch()
        for thread in busy:
            thread.join()
        pool.close()
    assert sorted(done) == ["a0", "a1", "a2"]


def pid() -> int:
    return os.getpid()


def test_a_prestarted_child_serves_the_next_pool() -> None:
    from meshplane.engines import limits as module

    limits = ProcessLimits(memory_bytes=3 * GiB, wall_seconds=31)
    prestart(limits)
    thread, box = module._SPARES[(limits, ())]
    thread.join()
    spare_pid = box[0].process.pid
    pool = WorkerPool(limits, max_workers=1, per_owner=1)
    try:
        assert pool.call("a", pid) == spare_pid  # the pool took the child started early
        assert (limits, ()) not in module._SPARES
    finally:
        pool.close()


_KEPT: list[object] = []


def map_and_keep(mib: int) -> int:
    """In a child: map ``mib`` MiB and keep it mapped after the call, as DuckDB's allocator keeps what it took."""
    import mmap

    region = mmap.mmap(-1, mib * 2**20)
    _KEPT.append(region)
    return os.getpid()


def test_a_child_left_mapping_more_than_recycle_above_is_replaced() -> None:
    limits = ProcessLimits(memory_bytes=3 * GiB, wall_seconds=30, recycle_above=2 * GiB)
    pool = WorkerPool(limits, max_workers=1, per_owner=1)
    try:
        first = pool.call("a", map_and_keep, 64)
        assert pool.call("a", pid) == first  # a child well under the bound serves the next call
        grown = pool.call("a", map_and_keep, 2048)
        assert grown == first
        assert pool.call("a", pid) != grown  # it kept 2 GiB more mapped: the next call gets a new child
    finally:
        pool.close()


def arrow_allocation_maps() -> int:
    """In a child: the address space pyarrow's first allocations add (not counting its import)."""
    import mmap

    import pyarrow as pa

    def mapped() -> int:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * mmap.PAGESIZE

    before = mapped()
    kept = [pa.array(range(n * 1000)) for n in range(1, 50)]
    assert sum(len(a) for a in kept) > 0
    return mapped() - before


def test_a_childs_allocators_reserve_no_address_space_ahead_of_use() -> None:
    """RLIMIT_AS counts reservations: pyarrow's mimalloc reserving 1 GiB at its first allocation took a query
    child's headroom (a catalog worker mapped past its replacement mark after one query, so every query
    waited for a new process)."""
    grown = run_limited(arrow_allocation_maps, limits=ProcessLimits(memory_bytes=4 * GiB, wall_seconds=60))
    assert grown < 128 * 2**20  # about 10 MB of arrays


def test_a_pool_whose_children_outgrow_their_mark_on_the_first_call_says_so(caplog: pytest.LogCaptureFixture) -> None:
    pool = WorkerPool(ProcessLimits(memory_bytes=3 * GiB, wall_seconds=30, recycle_above=1), max_workers=1)
    try:
        with caplog.at_level("WARNING", logger="meshplane.engines.limits"):
            assert pool.call("a", pid) != pool.call("a", pid)  # each call in a new child
            pool.call("a", pid)
        assert pool.started == 3
        [warning] = [r.getMessage() for r in caplog.records if "worker process maps" in r.getMessage()]
        assert "each call starts a new process; raise the limits' headroom" in warning
    finally:
        pool.close()


def test_query_children_are_replaced_once_they_keep_half_their_headroom() -> None:
    from meshplane.engines.duckdb_sandbox import SandboxLimits, process_limits

    limits = process_limits(SandboxLimits(memory_limit="512MB", headroom="2GB", timeout_seconds=3.0))
    assert limits.memory_bytes == parse_bytes("512MB") + parse_bytes("2GB")
    assert limits.recycle_above == parse_bytes("512MB") + parse_bytes("1GB")


class Counting:
    """In a child: chunks of one number each until cancelled (then the cancellation error)."""

    def __init__(self, stop_after: int | None) -> None:
        from meshplane.engines.limits import on_cancel

        self.n = 0
        self.stop_after = stop_after
        self.exhausted = False
        self.summary = "counted"
        self.cancelled = threading.Event()
        on_cancel(self.cancelled.set)

    def __iter__(self) -> Counting:
        return self

    def __next__(self) -> bytes:
        if self.stop_after is None:  # works until cancelled, like a long query
            if not self.cancelled.wait(60):
                return b"timeout"
            raise UsageError(f"cancelled in {os.getpid()}")
        self.n += 1
        self.exhausted = self.n >= self.stop_after
        return str(self.n).encode()


def counting(stop_after: int | None) -> Counting:
    return Counting(stop_after)


def test_a_stream_comes_in_chunks_and_a_cancel_stops_its_work_in_the_same_child() -> None:
    pool = WorkerPool(ProcessLimits(wall_seconds=60), max_workers=1, per_owner=1)
    try:
        with pool.stream("a", counting, 3) as stream:
            chunks = [stream.next_chunk(), stream.next_chunk(), stream.next_chunk()]
            assert chunks == [b"1", b"2", b"3"] and stream.done and stream.summary == "counted"
            assert stream.next_chunk() is None
        assert pool.running("a") == 0  # the child went back at the end
        worker = pool.call("a", pid)
        stream = pool.stream("a", counting, None)
        threading.Timer(0.2, stream.cancel).start()
        with pytest.raises(UsageError, match=f"cancelled in {worker}"):
            stream.next_chunk()
        assert pool.running("a") == 0 and pool.call("b", pid) == worker  # the same child serves on
    finally:
        pool.close()


def test_closing_a_stream_early_frees_its_child_for_the_next_call() -> None:
    pool = WorkerPool(ProcessLimits(wall_seconds=60), max_workers=1, per_owner=1)
    try:
        stream = pool.stream("a", counting, 1000)
        assert stream.next_chunk() == b"1"
        stream.close()
        assert pool.running("a") == 0
        assert pool.call("b", double, 21) == 42  # one child only: it was given back
    finally:
        pool.close()


def test_a_stream_past_its_wall_time_loses_its_child() -> None:
    pool = WorkerPool(ProcessLimits(wall_seconds=0.3), max_workers=1, per_owner=1)
    try:
        first = pool.call("a", pid)
        stream = pool.stream("a", counting, None)
        with pytest.raises(LimitExceeded) as stopped:
            stream.next_chunk()
        assert stopped.value.limit == "time" and pool.running("a") == 0
        assert pool.call("a", pid) != first  # a new child
    finally:
        pool.close()


def test_a_child_whose_duckdb_ran_out_of_memory_serves_no_more_calls() -> None:
    """Like a MemoryError, DuckDB's OutOfMemoryException at the child's address-space cap retires the child: the
    next call gets a fresh one, and the error still reaches the caller as DuckDB raised it."""
    from duckdb import OutOfMemoryException

    pool = WorkerPool(ProcessLimits(memory_bytes=3 * GiB, wall_seconds=30), max_workers=1, per_owner=1)
    try:
        first = pool.call("a", pid)
        assert pool.call("a", pid) == first  # a child that answered serves the next call
        with pytest.raises(OutOfMemoryException):
            pool.call("a", duckdb_range, 2_000_000_000)
        assert pool.call("a", pid) != first
        assert pool.call("a", double, 4) == 8
    finally:
        pool.close()
