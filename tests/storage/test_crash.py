"""SIGKILL a publishing process at several points: the table must stay consistent and readable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.errors import ConcurrentBuild
from meshplane.storage import TableStore
from meshplane.storage.store import CATALOG_NAME

from .conftest import Stage

WORKER = Path(__file__).with_name("crash_worker.py")
T_NAME = ("sales", "orders__orders__v1")


def run_worker(url: str, warehouse: Path, point: str, count: int = 1) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), url, str(warehouse), point, str(count)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_consistent(url: str, warehouse: Path) -> int | None:
    """Every snapshot's files exist, and an independent pyiceberg client reads the current one."""
    with TableStore(url, warehouse) as store:
        from meshplane.storage import TableId

        table_id = TableId(*T_NAME)
        for info in store.history(table_id):
            assert all(f.exists() for f in info.data_files), info
        current = store.current(table_id)
    from pyiceberg.catalog.sql import SqlCatalog

    other = SqlCatalog(CATALOG_NAME, uri=url)
    try:
        if current is None:
            return None
        table = other.load_table(T_NAME)
        data = table.scan().to_arrow()
        assert data.num_rows == current.row_count == 1000
        assert set(data["gen"].to_pylist()) == {int(current.properties["gen"])}  # never a mix
        return current.snapshot_id
    finally:
        other.engine.dispose()


@pytest.fixture
def seeded(store: TableStore, stage: Stage) -> int:
    from meshplane.storage import TableId

    table_id = TableId(*T_NAME)
    files = stage(table_id, "seed", "select range as id, -1 as gen from range(1000)")
    return store.publish(table_id, files, pq.read_schema(files[0]), {"gen": "-1"}).snapshot_id


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after_files_written", "mid_metadata_write", "before_catalog_update"])
def test_kill_before_the_switch_keeps_the_old_snapshot(
    point: str, seeded: int, catalog_url: str, store: TableStore
) -> None:
    result = run_worker(catalog_url, store.warehouse, point)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert assert_consistent(catalog_url, store.warehouse) == seeded
    # The crashed run's staging folder is an orphan: the sweep removes it, history stays intact.
    from meshplane.storage import TableId

    removed = store.cleanup_staging(TableId(*T_NAME), min_age=0)
    assert [p.name.split("-")[0] for p in removed] == [point]
    assert assert_consistent(catalog_url, store.warehouse) == seeded


@pytest.mark.slow
def test_kill_right_after_the_switch_keeps_the_new_snapshot(seeded: int, catalog_url: str, store: TableStore) -> None:
    result = run_worker(catalog_url, store.warehouse, "after_catalog_update")
    assert result.returncode == -signal.SIGKILL, result.stderr
    current = assert_consistent(catalog_url, store.warehouse)
    assert current is not None and current != seeded
    from meshplane.storage import TableId

    assert store.cleanup_staging(TableId(*T_NAME), min_age=0) == []  # its folder is referenced
    assert assert_consistent(catalog_url, store.warehouse) == current


@pytest.mark.slow
def test_kill_at_random_moments(seeded: int, catalog_url: str, store: TableStore) -> None:
    rng = random.Random(7)
    for _ in range(4):
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), catalog_url, str(store.warehouse), "loop", "1000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # imports done, at least one publish landed
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert assert_consistent(catalog_url, store.warehouse) is not None


LOCK_HOLDER = """
import sys, time
from pathlib import Path
from meshplane.storage import TableId, TableStore
store = TableStore(sys.argv[1], Path(sys.argv[2]))
with store.lock(TableId("sales", "orders__orders__v1")):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_lock_contention_between_processes(store: TableStore) -> None:
    from meshplane.storage import TableId

    table_id = TableId(*T_NAME)
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, store.catalog_url, str(store.warehouse)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        started = time.monotonic()
        busy = rf"sales.orders__orders__v1 is being built .*pid {proc.pid}"
        with pytest.raises(ConcurrentBuild, match=busy), store.lock(table_id, timeout=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        other = TableId("sales", "other__other__v1")
        with store.lock(other, timeout=0):  # other tables are independent
            pass
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the kernel releases a dead holder's flock
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    with store.lock(table_id, timeout=5), store.lock(table_id, timeout=0):  # re-entrant in one thread
        pass


def test_lock_excludes_other_threads(store: TableStore) -> None:
    import threading

    from meshplane.storage import TableId

    table_id = TableId(*T_NAME)
    errors: list[BaseException] = []

    def contender() -> None:
        try:
            with store.lock(table_id, timeout=0.1):
                pass
        except ConcurrentBuild as exc:
            errors.append(exc)

    with store.lock(table_id):
        thread = threading.Thread(target=contender)
        thread.start()
        thread.join()
    assert len(errors) == 1
