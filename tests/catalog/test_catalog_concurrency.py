"""Concurrent writers from threads and processes never see "database is locked"."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from meshplane.catalog import CatalogStore, QueryDecision, QueryLogEntry, RunStatus

WORKER = r"""
import sys
from meshplane.catalog import CatalogStore, RunStatus
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with CatalogStore.open(url) as store:          # every process migrates concurrently on first open
    for i in range(n):
        run = store.writer.start_run(f"{name}.p{i}")
        store.writer.append_audit(name, "build", run.product)
        store.reader.runs(limit=5)
        store.writer.finish_run(run.run_id, RunStatus.SUCCESS, rows_written=i)
"""


def _hammer(store: CatalogStore, worker: int, n: int, snapshot: object) -> None:
    for i in range(n):
        run = store.writer.start_run(f"t{worker}.p{i}")
        store.writer.log_query(QueryLogEntry(f"u{worker}", "SELECT 1", QueryDecision.ALLOWED, ports=("a.b.c",)))
        if i % 10 == 0:
            store.writer.sync_mesh(snapshot)  # type: ignore[arg-type]
        store.reader.search("listening")
        store.writer.finish_run(run.run_id, RunStatus.SUCCESS)


def test_threads_share_one_store(catalog_url: str, make_snapshot) -> None:  # type: ignore[no-untyped-def]
    snapshot = make_snapshot()
    with CatalogStore.open(catalog_url) as store, ThreadPoolExecutor(8) as pool:
        for future in [pool.submit(_hammer, store, w, 25, snapshot) for w in range(8)]:
            future.result()
        assert len(store.reader.runs(status=RunStatus.SUCCESS, limit=1000)) == 200
        assert store.reader.port_usage()[0].queries == 200
        assert len(store.reader.products()) == 3


@pytest.mark.slow
def test_processes_migrate_and_write_concurrently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"  # not created yet: the workers race to migrate it
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, url, f"w{i}", "40"], stderr=subprocess.PIPE, text=True)
        for i in range(6)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(errors)
    assert not any("locked" in e for e in errors)
    with CatalogStore.open(url) as store:
        assert len(store.reader.runs(status=RunStatus.SUCCESS, limit=1000)) == 240
        assert len(store.reader.audit_log(action="build", limit=1000)) == 240


def _publish_share(store: CatalogStore, worker: int, n: int) -> None:
    for i in range(n):  # what two domain repositories' builders publishing at once do (repositories.py)
        store.writer.put_settings({"platform.domain.podcasts": f'{{"w": {worker}, "i": {i}}}'})


def test_settings_written_at_once_by_several_builders(catalog_url: str) -> None:
    """Replacing one setting from several connections at once never fails on the key (the racing builders of
    test_multirepo lost a build to a duplicate key on PostgreSQL), and one of the values written stays."""
    with CatalogStore.open(catalog_url) as store, ThreadPoolExecutor(6) as pool:
        for future in [pool.submit(_publish_share, store, w, 40) for w in range(6)]:
            future.result()
        value = store.reader.setting("platform.domain.podcasts")
        assert value is not None and '"i": 39' in value
