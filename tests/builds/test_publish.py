"""Write, audit, publish: failing data never becomes visible; published tables read back from outside."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from meshplane.builds import Status
from meshplane.errors import StorageError
from meshplane.types import Address
from meshplane.workspace import Mesh

from .meshes import EVENTS, SHOWS, write_events

EVENTS_PORT = "podcasts.listening_events.listening_events"


def _address(text: str) -> Address:
    return Address.parse(text)


def test_contract_failure_keeps_the_previous_snapshot_and_says_which_rule_failed_on_how_many_rows(
    cli: Any, root: Path
) -> None:
    assert cli("build", "--mesh", str(root)).code == 0
    with Mesh.open(root) as mesh:
        before = mesh.builds.current(_address(EVENTS_PORT))
    assert before is not None
    write_events(root, EVENTS + 10, bad=3)  # 3 rows with negative seconds break the `sql` quality rule

    result = cli("build", "--mesh", str(root))
    assert result.code == 1
    assert "1 failed, 2 skipped" in result.stdout + result.stderr
    assert "rule podcasts.listening_events.listening_events.listening_events.sql: sql = 3, must be 0" in result.stderr

    with Mesh.open(root) as mesh:
        table = mesh.read(EVENTS_PORT)
        assert table.num_rows == EVENTS  # the previous snapshot is still the visible one
        assert min(table["seconds"].to_pylist()) >= 0
        after = mesh.builds.current(_address(EVENTS_PORT))
        assert after is not None and after.snapshot_id == before.snapshot_id
        # The failing run's check results are in the catalog next to the run.
        runs = {r.product: r for r in reversed(mesh.runs(limit=10))}  # newest wins
        failed = runs["podcasts.listening_events"]
        checks = mesh.platform.catalog.reader.check_results(run_id=failed.run_id)
        bad = [c for c in checks if not c.passed]
        assert [(c.metric, c.observed) for c in bad] == [("sql", 3.0)]
    # each team reads its own product's error; the other's is reduced to its kind (as in the REST API)
    runs_json = cli("runs", "--mesh", str(root), "--format", "json", "--as", "alice").json()
    latest = {r["product"]: r for r in reversed(runs_json)}
    assert latest["podcasts.listening_events"]["status"] == "failed"
    assert "sql = 3, must be 0" in latest["podcasts.listening_events"]["error"]
    assert latest["podcasts.listening_events"]["snapshot"] == ""
    assert latest["royalties.payouts"]["status"] == "skipped"
    assert latest["royalties.payouts"]["error"].startswith("the build failed")
    runs_json = cli("runs", "--mesh", str(root), "--format", "json", "--as", "rita").json()
    latest = {r["product"]: r for r in reversed(runs_json)}
    assert "upstream failed: podcasts.listening_events" in latest["royalties.payouts"]["error"]
    assert "sql = 3" not in latest["podcasts.listening_events"]["error"]
    # The rejected run's staged files are gone; only the published run's folder is left.
    data = root / ".meshplane/warehouse/podcasts/listening_events__listening_events__v1/data"
    assert [p.name for p in data.iterdir()] == [before.data_files[0].parent.name]


def test_unique_key_violation_fails_the_build(root: Path) -> None:
    write_events(root, 5, name="part-2.csv", start=0)  # the same event ids again
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.listening_events"])
        [outcome] = result.outcomes
        assert outcome.status is Status.FAILED
        assert "event_id.unique: event_id unique = 5 rows, must be 0" in (outcome.error or "")
        assert mesh.builds.current(_address(EVENTS_PORT)) is None  # never published: nothing visible


def test_tables_read_back_by_a_separate_pyiceberg_client_and_by_duckdb(root: Path) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        url, warehouse = mesh.platform.catalog_url, mesh.platform.warehouse
    expected = {
        ("podcasts", "listening_events__listening_events__v1"): EVENTS,
        ("podcasts", "shows__shows__v1"): SHOWS,
        ("podcasts", "listener_stats__listener_stats__v1"): 7,
        ("royalties", "payouts__payouts__v1"): SHOWS,
    }
    catalog = SqlCatalog("meshplane", uri=url, warehouse=warehouse.as_uri())
    try:
        found = {tuple(t) for ns in catalog.list_namespaces() for t in catalog.list_tables(ns)}
        assert found == set(expected)
        for identifier, rows in expected.items():
            table = catalog.load_table(identifier)
            assert table.scan().to_arrow().num_rows == rows
            files = [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]
            assert all(Path(f).is_file() for f in files)
            count = duckdb.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchone()
            assert count == (rows,)
            summary = table.current_snapshot().summary
            assert summary["meshplane.code"] and summary["meshplane.run-id"]
    finally:
        catalog.engine.dispose()


def test_time_travel_by_snapshot_id_and_as_of(root: Path) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build(["podcasts.listening_events"]).ok
        first = mesh.builds.current(_address(EVENTS_PORT))
        assert first is not None
    time.sleep(0.02)
    between = datetime.now(UTC)
    time.sleep(0.02)
    write_events(root, 7, name="part-2.csv", start=100)
    with Mesh.open(root) as mesh:
        assert mesh.build(["podcasts.listening_events"]).ok
        second = mesh.builds.current(_address(EVENTS_PORT))
        assert second is not None and second.snapshot_id != first.snapshot_id
        assert mesh.read(EVENTS_PORT).num_rows == EVENTS + 7
        assert mesh.read(EVENTS_PORT, snapshot_id=first.snapshot_id).num_rows == EVENTS
        assert mesh.read(EVENTS_PORT, snapshot_id=second.snapshot_id).num_rows == EVENTS + 7
        assert mesh.read(EVENTS_PORT, as_of=between).num_rows == EVENTS
        assert mesh.read(EVENTS_PORT, as_of=datetime.now(UTC)).num_rows == EVENTS + 7
        # Both snapshots' files are still on disk: time travel reads them.
        assert all(f.is_file() for f in first.data_files + second.data_files)
        with pytest.raises(StorageError):
            mesh.read(EVENTS_PORT, as_of=datetime(2000, 1, 1, tzinfo=UTC))


def test_missing_source_data_says_which_command_creates_it(root: Path) -> None:
    for f in (root / "data/listens").iterdir():
        f.unlink()
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.listening_events"])
    [outcome] = result.outcomes
    assert outcome.status is Status.FAILED
    assert "no files match data/listens/*.csv" in (outcome.error or "")
    assert f"create it with: python {root / 'generate.py'}" in (outcome.error or "")


def test_failing_transform_is_reported_without_a_traceback(root: Path) -> None:
    (root / "domains/podcasts/shows/shows.sql").write_text("SELECT no_such_column FROM shows\n")
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.shows"])
        [outcome] = result.outcomes
        assert outcome.status is Status.FAILED
        assert "shows/shows.sql: SQL transform failed" in (outcome.error or "")
        assert "no_such_column" in (outcome.error or "")
        [run] = mesh.runs()
        assert run.status.value == "failed"


def test_run_records_say_what_was_built(cli: Any, root: Path) -> None:
    assert cli("build", "--mesh", str(root)).code == 0
    records = cli("runs", "--mesh", str(root), "--format", "json").json()
    assert {r["product"] for r in records} == {
        "podcasts.listening_events",
        "podcasts.shows",
        "podcasts.listener_stats",
        "royalties.payouts",
    }
    for record in records:
        assert record["status"] == "success" and record["engine"] == "duckdb"
        assert record["snapshot"].isdigit() and record["ended"] >= record["started"]
    rows = {r["product"]: int(r["rows"]) for r in records}
    assert rows["podcasts.listening_events"] == EVENTS
    only = cli("runs", "podcasts.shows", "--mesh", str(root), "--format", "json").json()
    assert [r["product"] for r in only] == ["podcasts.shows"]
