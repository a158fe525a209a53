"""Compaction in `meshplane maintain`: after many appended increments, the small files are rewritten into fewer
larger ones in a snapshot of their own, with the same rows; the port and its consumers stay up to date, time travel
to the retained snapshots still reads them, the rewrite is audited, and the scheduler's maintenance round runs it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from meshplane.builds.execute import table_id_for
from meshplane.errors import MeshError
from meshplane.storage import Publication
from meshplane.types import Address
from meshplane.workspace import Mesh

from .meshes import write_events
from .test_incremental import PORT, PRODUCT, _make_append

APPENDS = 12


def _compaction(root: Path, *, min_files: int, keep: int = 100) -> None:
    mesh_yaml = root / "mesh.yaml"
    lines = [line for line in mesh_yaml.read_text().splitlines(keepends=True) if "compaction:" not in line]
    lines = [line for line in lines if "history:" not in line]
    text = "".join(lines).replace(
        "  warehouse: .meshplane/warehouse\n",
        "  warehouse: .meshplane/warehouse\n"
        f"  compaction: {{target_file_mb: 1, min_files: {min_files}}}\n"
        f"  history: {{keep_snapshots: {keep}, keep_days: 0}}\n",
    )
    mesh_yaml.write_text(text)


def _rows(table: Any) -> Counter[tuple[Any, ...]]:
    """A table's rows as a multiset (compaction keeps every row, duplicates included)."""
    columns = sorted(table.column_names)
    return Counter(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


@pytest.fixture
def appended(root: Path) -> Path:
    """The append port after a first build and APPENDS daily-like increments: 1 + APPENDS small files."""
    _make_append(root)
    _compaction(root, min_files=5)
    write_events(root, 20)
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        for number in range(APPENDS):
            write_events(root, 3, name=f"part-{number + 2:02d}.csv", start=20 + 3 * number)
            result = mesh.build([PRODUCT])
            assert result.ok, [o.error for o in result.outcomes]
            assert result.outcomes[0].ports[0].run == "append"
        assert mesh.build().ok  # the consumers read the last increment
    return root


def test_maintain_compacts_small_files_with_identical_rows(appended: Path, cli: Any) -> None:
    with Mesh.open(appended) as mesh:
        table = table_id_for(Address.parse(PORT), 1)
        before = mesh.builds.current(Address.parse(PORT))
        assert before is not None and len(before.data_files) == 1 + APPENDS
        rows_before = _rows(mesh.read(PORT))
        assert sum(rows_before.values()) == 20 + 3 * APPENDS
        assert not mesh.plan()
    result = cli("maintain", "--mesh", str(appended), "--min-file-age", "0", "--format", "json")
    assert result.code == 0, result.stderr
    [report] = [p for p in result.json() if p["port"] == PORT]
    assert report["compaction"]["files_before"] == 1 + APPENDS
    assert report["compaction"]["files_after"] == 1 and report["compaction"]["written_files"] == 1
    assert report["compaction"]["rows"] == 20 + 3 * APPENDS
    with Mesh.open(appended) as mesh:
        after = mesh.builds.current(Address.parse(PORT))
        assert after is not None and after.snapshot_id == report["compaction"]["snapshot_id"]
        assert len(after.data_files) == 1 and not set(after.data_files) & set(before.data_files)
        assert after.row_count == before.row_count
        assert _rows(mesh.read(PORT)) == rows_before
        # Same rows: neither the port nor its consumers (listener_stats, payouts) are stale.
        assert not mesh.plan()
        # Time travel to the snapshot before the compaction reads the small files, same rows.
        assert _rows(mesh.read(PORT, snapshot_id=before.snapshot_id)) == rows_before
        [entry] = mesh.platform.catalog.reader.audit_log(action="compaction", limit=10)
        assert entry.subject == PORT and entry.detail["rewritten_files"] == 1 + APPENDS
        # Few small files again: the next round leaves the table as it is.
        again = mesh.maintain([PRODUCT], min_file_age=0)
        [port] = [p for p in again.ports if str(p.port) == PORT]
        assert port.compaction is not None and port.compaction.snapshot_id is None
        assert mesh.builds.current(Address.parse(PORT)).snapshot_id == after.snapshot_id  # type: ignore[union-attr]
        # The next increment appends to the compacted table.
        write_events(appended, 3, name="part-99.csv", start=1000)
        result = mesh.build([PRODUCT])
        assert result.ok and result.outcomes[0].ports[0].run == "append"
        assert mesh.read(PORT).num_rows == 20 + 3 * APPENDS + 3
        assert len(mesh.platform.tables.history(table)) == 1 + APPENDS + 2


def test_expiry_after_compaction_keeps_what_retained_snapshots_read(appended: Path) -> None:
    """Expiry drops the small files once no retained snapshot reads them; the retained ones still read."""
    _compaction(appended, min_files=5, keep=2)
    with Mesh.open(appended) as mesh:
        table = table_id_for(Address.parse(PORT), 1)
        last_append = mesh.builds.current(Address.parse(PORT))
        assert last_append is not None
        rows = _rows(mesh.read(PORT))
        report = mesh.maintain([PRODUCT], min_file_age=0)
        assert report.ok, report
        [port] = [p for p in report.ports if str(p.port) == PORT]
        assert port.compaction is not None and port.compaction.snapshot_id is not None
        assert port.expiry is not None and len(port.expiry.expired) == APPENDS  # the last append and compaction stay
        # The last append's snapshot is retained: its small files are still there and read the same rows.
        assert all(Path(str(f)).is_file() for f in last_append.data_files)
        assert _rows(mesh.read(PORT, snapshot_id=last_append.snapshot_id)) == rows
        assert _rows(mesh.read(PORT)) == rows
        data = mesh.platform.tables.table_location(table) / "data"
        assert len(list(data.iterdir())) == 1 + APPENDS + 1  # the last append reads every small file
    _compaction(appended, min_files=5, keep=1)
    with Mesh.open(appended) as mesh:
        report = mesh.maintain([PRODUCT], min_file_age=0)
        assert report.ok, report
        # Only the compaction's snapshot is retained now: the small files' run folders are gone.
        current = mesh.builds.current(Address.parse(PORT))
        assert current is not None and {Path(str(f)).parent for f in current.data_files} == set(data.iterdir())
        assert _rows(mesh.read(PORT)) == rows


def test_a_compaction_that_lost_a_race_changes_nothing(appended: Path) -> None:
    """Replacing files another writer already replaced would repeat rows: refused, nothing published."""
    with Mesh.open(appended) as mesh:
        store = mesh.platform.tables
        table = table_id_for(Address.parse(PORT), 1)
        current = store.current(table)
        assert current is not None
        assert mesh.build([PRODUCT], full_refresh=True).ok  # every small file replaced by the rebuild
        rebuilt = store.current(table)
        folder = store.staging_dir(table, "stale-compaction")
        target = folder / "compacted.parquet"
        import pyarrow.parquet as pq

        pq.write_table(store.read_arrow(current), target)
        stale = Publication(table, (target,), current.schema, {}, replaces=tuple(current.data_files))
        with pytest.raises(MeshError, match="no longer in the table"):
            store.publish_all([stale], "stale-compaction")
        assert store.current(table).snapshot_id == rebuilt.snapshot_id  # type: ignore[union-attr]


def test_the_scheduler_maintenance_round_compacts(appended: Path) -> None:
    with Mesh.open(appended) as mesh:
        now = datetime.now(UTC)
        mesh._maintain_when_due(now, {"at": now - timedelta(days=2)})  # a tick of "0 3 * * *" passed
        current = mesh.builds.current(Address.parse(PORT))
        assert current is not None and len(current.data_files) == 1
        assert current.row_count == 20 + 3 * APPENDS
        assert not mesh.plan()
