"""PostgreSQL as a source (a table in the `test` database) and as the metadata catalog (a fresh database)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meshplane.catalog import RunStatus
from meshplane.types import Address
from meshplane.workspace import Mesh

from .meshes import EVENTS, SHOWS, write_mesh
from .test_crash import WORKER, assert_consistent

pytestmark = pytest.mark.postgres

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
EVENTS_PORT = "podcasts.listening_events.listening_events"


@pytest.fixture
def pg_table() -> Iterator[str]:
    """A listens table in the `test` database with EVENTS rows."""
    import psycopg

    name = f"listens_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} (event_id text, listener_id text, show_id text, seconds integer)")
        with conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {name} VALUES (%s, %s, %s, %s)",
                [(f"E{i:06d}", f"L{i % 7:08d}", f"S{i % SHOWS}", 60 + i) for i in range(EVENTS)],
            )
    yield name
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def catalog_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database for the catalog, named by MESHPLANE_TEST_CATALOG (mesh.yaml's catalog_url_env)."""
    import psycopg

    name = f"mp_build_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    monkeypatch.setenv("MESHPLANE_TEST_CATALOG", url)
    monkeypatch.setenv("MESHPLANE_REQUIRE_CATALOG_URL", "1")
    yield url
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgres_table_as_a_source(tmp_path: Path, pg_table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_mesh(tmp_path / "mesh", postgres_source=("MESHPLANE_TEST_HOSTING_DB", pg_table))
    with Mesh.open(root) as mesh:
        [outcome] = mesh.build(["podcasts.listening_events"]).outcomes
        assert "environment variable MESHPLANE_TEST_HOSTING_DB is not set" in (outcome.error or "")
    monkeypatch.setenv("MESHPLANE_TEST_HOSTING_DB", ADMIN)
    with Mesh.open(root) as mesh:
        result = mesh.build()
        assert result.ok, [o.error for o in result.outcomes]
        table = mesh.read(EVENTS_PORT)
        assert table.num_rows == EVENTS
        assert sorted(table["event_id"].to_pylist())[:2] == ["E000000", "E000001"]
        assert mesh.read("podcasts.listener_stats.listener_stats").num_rows == 7
        assert not mesh.plan()
    # The URL never lands in the mesh files or the run records.
    assert ADMIN not in "".join(p.read_text() for p in root.rglob("*.yaml"))


def test_postgres_as_the_catalog(tmp_path: Path, catalog_db: str, cli: Any) -> None:
    root = write_mesh(tmp_path / "mesh", catalog_url_env="MESHPLANE_TEST_CATALOG")
    assert cli("build", "--mesh", str(root)).code == 0
    assert cli("plan", "--mesh", str(root), "--format", "json").json() == []
    assert not (root / ".meshplane/catalog.db").exists()
    runs = cli("runs", "--mesh", str(root), "--format", "json").json()
    assert {r["status"] for r in runs} == {"success"} and len(runs) == 4

    from pyiceberg.catalog.sql import SqlCatalog

    catalog = SqlCatalog(
        "meshplane",
        uri=catalog_db.replace("postgresql://", "postgresql+psycopg://"),
        warehouse=(root / ".meshplane/warehouse").as_uri(),
    )
    try:
        table = catalog.load_table(("podcasts", "listening_events__listening_events__v1"))
        assert table.scan().to_arrow().num_rows == EVENTS
    finally:
        catalog.engine.dispose()

    # A crash after the commit, against PostgreSQL: consistent, and the next build recovers.
    (root / "data/shows.csv").touch()
    process = subprocess.run(
        [sys.executable, str(WORKER), str(root), "after_commit", "podcasts.shows"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert process.returncode == -9, process.stderr
    assert_consistent(root)
    with Mesh.open(root) as mesh:
        dead = mesh.runs("podcasts.shows")[0]
        assert dead.status is RunStatus.INTERRUPTED  # marked by the first command that opened the catalog
        assert [str(i.address) for i in mesh.plan().items] == ["royalties.payouts"]  # shows' commit landed
        assert mesh.build().ok
        assert mesh.runs("podcasts.shows")[0].run_id == dead.run_id
        assert mesh.runs("podcasts.shows")[0].status is RunStatus.INTERRUPTED
        assert mesh.builds.current(Address.parse("royalties.payouts.payouts")) is not None
        assert not mesh.plan()


def test_a_postgres_source_is_fingerprinted_by_content(
    tmp_path: Path, pg_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A schedule rebuilds a product reading PostgreSQL only when the table changed: an insert, an update and a
    delete each make the plan rebuild it; an unchanged table leaves the plan empty."""
    import psycopg

    root = write_mesh(tmp_path / "mesh", postgres_source=("MESHPLANE_TEST_HOSTING_DB", pg_table))
    monkeypatch.setenv("MESHPLANE_TEST_HOSTING_DB", ADMIN)
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        assert not mesh.plan()
    changes = [
        f"INSERT INTO {pg_table} VALUES ('E999999', 'L00000001', 'S1', 61)",
        f"UPDATE {pg_table} SET seconds = seconds + 1 WHERE event_id = 'E000001'",
        f"DELETE FROM {pg_table} WHERE event_id = 'E000002'",
    ]
    for change in changes:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(change)
        with Mesh.open(root) as mesh:
            [item, *_] = mesh.plan().items
            assert str(item.address) == "podcasts.listening_events" and "source data changed" in item.reasons, change
            assert mesh.build().ok
            assert not mesh.plan(), change
    with Mesh.open(root) as mesh:
        assert mesh.read(EVENTS_PORT).num_rows == EVENTS  # one row added, one deleted


def test_a_schedule_tick_skips_an_unchanged_postgres_source(
    tmp_path: Path, pg_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduled product reading PostgreSQL: a tick after which the table did not change plans nothing (the
    content fingerprint is the same); after an insert the next tick rebuilds it, with the new row."""
    import psycopg

    from meshplane.builds.plan import Reason

    root = write_mesh(tmp_path / "mesh", postgres_source=("MESHPLANE_TEST_HOSTING_DB", pg_table), schedule="0 * * * *")
    monkeypatch.setenv("MESHPLANE_TEST_HOSTING_DB", ADMIN)
    product = Address.parse("podcasts.listening_events")
    later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        due, plan = mesh.plan_due(later)
        assert [d.address for d in due] == [product] and not plan
        assert mesh.run_due(later) is None
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {pg_table} VALUES ('E999999', 'L00000001', 'S1', 61)")
    later += timedelta(hours=1)  # the next tick
    with Mesh.open(root) as mesh:
        _, plan = mesh.plan_due(later)
        assert [(i.address, i.reasons) for i in plan.items] == [(product, (Reason.SOURCE_CHANGED,))]
        result = mesh.run_due(later)
        assert result is not None and result.ok and [o.address for o in result.outcomes] == [product]
        assert mesh.read(EVENTS_PORT).num_rows == EVENTS + 1
        runs = sorted((r.status.value, r.trigger) for r in mesh.runs("podcasts.listening_events"))
        assert runs == [("skipped", "schedule"), ("success", "manual"), ("success", "schedule")]
