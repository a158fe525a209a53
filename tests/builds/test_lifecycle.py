"""Retention on every build and `meshplane maintain`: expired rows deleted at the boundary, snapshots expired,
files nothing refers to removed, the plan still up to date, every delete audited."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meshplane.builds.execute import table_id_for
from meshplane.errors import MeshError
from meshplane.spec.retention import parse_period
from meshplane.types import Address
from meshplane.workspace import Mesh

SHOWS_PORT = "podcasts.shows.shows"
RETENTION_DAYS = 30


def _rewrite_shows_with_dates(root: Path, released: list[date]) -> None:
    """The shows port gains a `released_on` date column and a 30-day retention on it."""
    source = root / "domains/podcasts/sources/shows.odcs.yaml"
    source.write_text(
        source.read_text().replace(
            "      - {name: rate, logicalType: number}\n",
            "      - {name: rate, logicalType: number}\n      - {name: released_on, logicalType: date}\n",
        )
    )
    contract = root / "domains/podcasts/shows/shows.odcs.yaml"
    text = contract.read_text().replace(
        "  - {property: frequency, value: 1, unit: d}\n",
        "  - {property: frequency, value: 1, unit: d}\n"
        f"  - {{property: retention, value: {RETENTION_DAYS}, unit: d, element: shows.released_on}}\n",
    )
    contract.write_text(text + "      - {name: released_on, logicalType: date}\n")
    (root / "domains/podcasts/shows/shows.sql").write_text(
        "SELECT CAST(show_id AS VARCHAR) AS show_id, CAST(title AS VARCHAR) AS title, CAST(rate AS DOUBLE) AS rate,\n"
        "       CAST(released_on AS DATE) AS released_on\nFROM shows\n"
    )
    with (root / "data" / "shows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["show_id", "title", "rate", "released_on"])
        for i, day in enumerate(released):
            writer.writerow([f"S{i}", f"Show {i}", 0.01 * (i + 1), day.isoformat()])


def _history(root: Path, keep: int) -> None:
    mesh_yaml = root / "mesh.yaml"
    mesh_yaml.write_text(
        mesh_yaml.read_text().replace(
            "  warehouse: .meshplane/warehouse\n",
            f"  warehouse: .meshplane/warehouse\n  history: {{keep_snapshots: {keep}, keep_days: 0}}\n",
        )
    )


def _released_dates() -> list[date]:
    today = datetime.now(UTC).date()
    cutoff = today - timedelta(days=RETENTION_DAYS)
    # S0: a day past the cutoff (deleted); S1: on the cutoff day (kept: retention never deletes early);
    # S2, S3: recent.
    return [cutoff - timedelta(days=1), cutoff, cutoff + timedelta(days=1), today]


def test_periods_parse_iso_and_units() -> None:
    assert parse_period("P25Y") == timedelta(days=25 * 365)
    assert parse_period("P400D") == timedelta(days=400)
    assert parse_period(400, "d") == timedelta(days=400)
    assert parse_period(2, "y") == timedelta(days=730)
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_period("400 days")
    with pytest.raises(ValueError, match="unit"):
        parse_period(3, "fortnights")


def test_each_build_deletes_rows_past_retention_in_a_snapshot_of_their_own(root: Path) -> None:
    _rewrite_shows_with_dates(root, _released_dates())
    with Mesh.open(root) as mesh:
        assert mesh.build(["podcasts.shows"])
        shows = mesh.read(SHOWS_PORT).sort_by("show_id")
        assert shows.column("show_id").to_pylist() == ["S1", "S2", "S3"]  # S0 expired; the cutoff day kept
        history = mesh.platform.tables.history(table_id_for(Address.parse(SHOWS_PORT), 1))
        assert len(history) == 2  # the build's snapshot (all four rows), then the retention delete
        assert history[0].row_count == 4 and history[1].row_count == 3
        assert history[1].properties["meshplane.retention-cutoff"]
        # The retention snapshot carries the build's fingerprint: nothing to rebuild.
        assert [item.address for item in mesh.plan(["podcasts.shows"]).items] == []
        audit = mesh.platform.catalog.reader.audit_log(action="retention", limit=10)
        assert [(e.subject, e.detail["deleted_rows"]) for e in audit] == [(SHOWS_PORT, 1)]
        # Nothing older: a second round deletes nothing and commits nothing.
        [done] = [p for p in mesh.lifecycle.enforce_retention([Address.parse("podcasts.shows")])]
        assert done.retention is not None and done.retention.deleted_rows == 0 and done.retention.snapshot_id is None


def test_maintain_expires_snapshots_and_removes_unreferenced_files(root: Path, cli: Any) -> None:
    _history(root, keep=2)
    with Mesh.open(root) as mesh:
        for _ in range(4):
            assert mesh.build(["podcasts.shows"], full_refresh=True)
        table = table_id_for(Address.parse(SHOWS_PORT), 1)
        before = mesh.platform.tables.history(table)
        assert len(before) == 4
        runs_before = sorted(p.name for p in (mesh.platform.tables.table_location(table) / "data").iterdir())
        assert len(runs_before) == 4
    result = cli("maintain", "podcasts.shows", "--mesh", str(root), "--min-file-age", "0", "--format", "json")
    assert result.code == 0, result.stderr
    [report] = [p for p in result.json() if p["port"] == SHOWS_PORT]
    assert sorted(report["expiry"]["expired_snapshots"]) == sorted(s.snapshot_id for s in before[:2])
    assert report["expiry"]["removed_files"] >= 2
    with Mesh.open(root) as mesh:
        after = mesh.platform.tables.history(table)
        assert [s.snapshot_id for s in after] == [s.snapshot_id for s in before[2:]]
        runs_after = {p.name for p in (mesh.platform.tables.table_location(table) / "data").iterdir()}
        # The expired snapshots' run folders are gone, the kept ones stay.
        assert runs_after == {s.properties["meshplane.run-id"] for s in before[2:]}
        # Time travel: a retained snapshot reads, an expired one is a clear error.
        assert mesh.read(SHOWS_PORT, snapshot_id=before[2].snapshot_id).num_rows == 4
        with pytest.raises(MeshError, match=str(before[0].snapshot_id)):
            mesh.read(SHOWS_PORT, snapshot_id=before[0].snapshot_id)
        assert mesh.read(SHOWS_PORT).num_rows == 4
        assert [item.address for item in mesh.plan(["podcasts.shows"]).items] == []
        audit = mesh.platform.catalog.reader.audit_log(action="expire_snapshots", limit=10)
        assert [e.subject for e in audit] == [SHOWS_PORT]


def test_maintain_keeps_files_younger_than_the_minimum_age(root: Path) -> None:
    """A folder a build may still be staging is never deleted, whatever the snapshots say."""
    _history(root, keep=1)
    with Mesh.open(root) as mesh:
        for _ in range(3):
            assert mesh.build(["podcasts.shows"], full_refresh=True)
        report = mesh.maintain(["podcasts.shows"])  # default: files younger than an hour stay
        [shows] = [p for p in report.ports if str(p.port) == SHOWS_PORT]
        assert shows.expiry is not None and len(shows.expiry.expired) == 2
        assert shows.expiry.removed_files == 0
        table = table_id_for(Address.parse(SHOWS_PORT), 1)
        assert len(list((mesh.platform.tables.table_location(table) / "data").iterdir())) == 3


def test_retention_without_a_dated_column_is_reported_not_enforced(root: Path, cli: Any) -> None:
    contract = root / "domains/podcasts/shows/shows.odcs.yaml"
    contract.write_text(
        contract.read_text().replace(
            "  - {property: frequency, value: 1, unit: d}\n",
            "  - {property: frequency, value: 1, unit: d}\n  - {property: retention, value: 30, unit: d}\n",
        )
    )
    assert cli("build", "podcasts.shows", "--mesh", str(root)).code == 0
    result = cli("maintain", "podcasts.shows", "--mesh", str(root), "--format", "json")
    [report] = [p for p in result.json() if p["port"] == SHOWS_PORT]
    assert "no column dates the rows" in report["retention_problem"]
    assert report["retention"] is None


def test_the_scheduler_maintains_on_its_cron(root: Path) -> None:
    _history(root, keep=1)
    with Mesh.open(root) as mesh:
        for _ in range(2):
            assert mesh.build(["podcasts.shows"], full_refresh=True)
        table = table_id_for(Address.parse(SHOWS_PORT), 1)
        now = datetime.now(UTC)
        mesh._maintain_when_due(now, {"at": now})  # no tick of "0 3 * * *" since: nothing happens
        assert len(mesh.platform.tables.history(table)) == 2
        last = {"at": now - timedelta(days=2)}
        mesh._maintain_when_due(now, last)  # a tick passed: one maintenance round
        assert len(mesh.platform.tables.history(table)) == 1
        assert last["at"] == now
