"""Build leases in the metadata database: what builders on several machines rely on (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from meshplane.errors import ConcurrentBuild
from meshplane.storage import TableId, TableStore
from meshplane.storage.locks import LEASES

KEY = TableId("sales", "orders__build")


def _rows(url: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(f"SELECT lease_key, holder, host, pid FROM {LEASES}"))]
    finally:
        engine.dispose()


def _plant(url: str, host: str, pid: int, expires_in_ms: int) -> None:
    """A lease held by a builder on another machine (as that machine would have written it)."""
    engine = sa.create_engine(url)
    now = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    if engine.dialect.name == "postgresql":
        now = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f"INSERT INTO {LEASES} (lease_key, holder, host, pid, acquired_ms, expires_ms) "
                    f"VALUES (:key, 'elsewhere', :host, :pid, {now}, {now} + :ms)"
                ),
                {"key": str(KEY), "host": host, "pid": pid, "ms": expires_in_ms},
            )
    finally:
        engine.dispose()


def test_a_lease_is_a_row_while_held_and_gone_after(store: TableStore) -> None:
    with store.lock(KEY, timeout=0):
        [(key, _, _, _)] = _rows(store.catalog_url)
        assert key == str(KEY)
    assert _rows(store.catalog_url) == []


def test_another_machines_live_lease_blocks_until_it_expires(store: TableStore) -> None:
    with store.lock(KEY, timeout=0):
        pass  # creates the lease table, as any builder's first lock does
    _plant(store.catalog_url, "build-agent-7/0000", pid=4242, expires_in_ms=1500)
    with pytest.raises(ConcurrentBuild, match=r"pid 4242 on build-agent-7"), store.lock(KEY, timeout=0.2):
        pass
    # Its holder stopped renewing (killed, or the machine died): the lease is taken over once expired.
    started = time.monotonic()
    with store.lock(KEY, timeout=10) as lease:
        lease.verify()
    assert time.monotonic() - started < 10


def test_a_dead_holder_on_this_machine_is_taken_over_at_once(store: TableStore, tmp_path: Path) -> None:
    import subprocess
    import sys

    holder = TableStore(store.catalog_url, tmp_path / "warehouse")
    try:
        with holder.lock(KEY, timeout=0):
            [(_, _, host, _)] = _rows(store.catalog_url)
    finally:
        holder.close()
    # A process that exited without releasing (as SIGKILL would leave it), with an hour left on its lease.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _plant(store.catalog_url, str(host), pid=int(dead.stdout), expires_in_ms=3_600_000)
    with store.lock(KEY, timeout=0):
        pass


def test_heartbeats_keep_a_long_build_s_lease(catalog_url: str, tmp_path: Path) -> None:
    with (
        TableStore(catalog_url, tmp_path / "wh", lease_seconds=1) as first,
        TableStore(catalog_url, tmp_path / "wh", lease_seconds=1) as second,
        first.lock(KEY, timeout=0) as lease,
    ):
        time.sleep(2.5)  # longer than the lease: only the heartbeat keeps it
        with pytest.raises(ConcurrentBuild), second.lock(KEY, timeout=0.3):
            pass
        lease.verify()


def test_a_builder_whose_lease_was_taken_over_does_not_publish(store: TableStore) -> None:
    with store.lock(KEY, timeout=0) as lease:
        engine = sa.create_engine(store.catalog_url)
        try:
            with engine.begin() as conn:  # what a takeover after expiry writes
                conn.execute(sa.text(f"UPDATE {LEASES} SET holder = 'someone-else'"))
        finally:
            engine.dispose()
        with pytest.raises(ConcurrentBuild, match="took it over"):
            lease.verify()


def test_contenders_never_hold_one_lease_together(catalog_url: str, tmp_path: Path) -> None:
    stores = [TableStore(catalog_url, tmp_path / "wh") for _ in range(4)]
    inside = 0
    most = 0
    guard = threading.Lock()

    def work(store: TableStore) -> None:
        nonlocal inside, most
        for _ in range(5):
            with store.lock(KEY, timeout=30):
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.01)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in stores:
            s.close()
    assert most == 1
