"""A contract's partitioning as the Iceberg partition spec: staged files split one partition per file, the spec
created with the table, a change of it taken only with a full rewrite, on local disk and on S3."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from pyiceberg.expressions import EqualTo

from meshplane.errors import StorageError
from meshplane.storage import TableContract, TableId, TableStore
from meshplane.storage.objectstore import s3_location

T = TableId("podcasts", "listening_events__listening_events__v1")
EVENTS = """
select 'E' || lpad(range::varchar, 4, '0') as event_id, 'S' || (range % 3)::varchar as show_id,
       timestamp '2026-03-01 00:30:00' + to_hours(range * 6) as started_at
from range(20)
"""  # 20 sessions, 6 hours apart: 5 days, 3 shows
BY_DAY = TableContract(partitioning=(("started_at", "day"),))


def _staged(store: TableStore, run_id: str, select: str = EVENTS, files: int = 2) -> list[Path]:
    """The rows as ``files`` Parquet files mixing partitions, as an engine writes them."""
    folder = store.staging_dir(T, run_id)
    paths = []
    for part in range(files):
        path = folder / f"part-{part}.parquet"
        duckdb.sql(f"select * from ({select}) where hash(event_id) % {files} = {part}").to_parquet(str(path))
        paths.append(path)
    return paths


def _publish(store: TableStore, run_id: str, contract: TableContract, *, append: bool = False, select: str = EVENTS):  # type: ignore[no-untyped-def]
    from meshplane.storage import Publication

    files = store.partition_staged(_staged(store, run_id, select), contract)
    [info] = store.publish_all([Publication(T, files, pq.read_schema(files[0]), {}, contract, append)], run_id)
    return info, files


def _check_day_partitioned(store: TableStore) -> None:
    info, files = _publish(store, "r1", BY_DAY)
    assert len(files) > 2 and info.row_count == 20
    table = store.catalog.load_table(T.identifier)
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("started_at_day", "day")]
    # Every file holds one day; the manifests say which, and scan planning prunes by it.
    days = {task.file.file_path: task.file.partition[0] for task in table.scan().plan_files()}
    assert len(set(days.values())) == 5 and len(days) <= 10  # each staged file split into its days
    for path in info.data_files:
        if not str(path).startswith("s3://"):
            assert len({t.date() for t in pq.read_table(path)["started_at"].to_pylist()}) == 1
    one_day = list(table.scan(row_filter=EqualTo("started_at", "2026-03-02T00:30:00")).plan_files())
    assert one_day and {days[t.file.file_path] for t in one_day} == {20514}  # 2026-03-02, in days since 1970
    assert store.read_arrow(info).num_rows == 20


def test_a_contracts_partitioning_becomes_the_spec_and_each_file_one_partition(store: TableStore) -> None:
    _check_day_partitioned(store)


def test_a_changed_partitioning_is_taken_by_a_full_rewrite_only(store: TableStore) -> None:
    _publish(store, "r1", BY_DAY)
    by_show = TableContract(partitioning=(("show_id", "identity"), ("started_at", "month")))
    # An increment under a new spec would leave the table half partitioned: refused, nothing published.
    with pytest.raises(StorageError, match=r"partitioning changed.*full-refresh"):
        _publish(store, "r2", by_show, append=True)
    assert store.current(T) is not None and store.current(T).row_count == 20  # type: ignore[union-attr]
    info, _ = _publish(store, "r3", by_show)
    table = store.catalog.load_table(T.identifier)
    assert [f.name for f in table.spec().fields] == ["show_id", "started_at_month"]
    tasks = list(table.scan().plan_files())
    assert {t.file.spec_id for t in tasks} == {table.spec().spec_id}  # every live file is under the new spec
    assert {(t.file.partition[0], t.file.partition[1]) for t in tasks} == {("S0", 674), ("S1", 674), ("S2", 674)}
    assert info.row_count == 20
    # Back to unpartitioned: one rewrite again.
    _publish(store, "r4", TableContract())
    assert store.catalog.load_table(T.identifier).spec().is_unpartitioned()


def test_unsplit_files_of_several_partitions_are_refused_by_publish(store: TableStore) -> None:
    from meshplane.storage import Publication

    files = _staged(store, "r1", files=1)
    with pytest.raises(StorageError, match="several partitions"):
        store.publish_all([Publication(T, tuple(files), pq.read_schema(files[0]), {}, BY_DAY)], "r1")
    assert store.current(T) is None


def test_partitioning_on_an_s3_warehouse(s3_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bucket = s3_env.create_bucket()
    location = s3_location(f"s3://{bucket}/warehouse")
    with TableStore(f"sqlite:///{tmp_path / 'catalog.db'}", location, scratch=tmp_path / "staging") as store:
        _check_day_partitioned(store)
        current = store.current(T)
        assert current is not None and all(str(f).startswith("s3://") for f in current.data_files)


def test_prune_plans_a_snapshots_files_by_the_partitioning(store: TableStore) -> None:
    info, _ = _publish(store, "r1", BY_DAY)
    every = set(info.data_files)
    day = store.prune(T, info.snapshot_id, [("started_at", ">=", ("2026-03-05",))])
    assert day is not None and 0 < len(day) < len(every) and set(day) <= every
    assert store.prune(T, info.snapshot_id, [("started_at", "=", ("2026-03-02 00:30",))]) != day
    assert store.prune(T, info.snapshot_id, [("started_at", "<", ("2026-01-01",))]) == ()
    # No pruning (None: read every file) when no predicate is on a partition column, or a literal does not bind.
    assert store.prune(T, info.snapshot_id, [("show_id", "=", ("S1",))]) is None
    assert store.prune(T, info.snapshot_id, [("started_at", "=", ("not a time",))]) is None
    table = store.read_arrow(info)
    matching = pc.sum(pc.greater_equal(table["started_at"], datetime(2026, 3, 5))).as_py()
    kept = sum(rows for path, rows in _rows_by_file(store, info).items() if path in day)
    assert kept >= matching > 0  # every matching row is in a kept file


def _rows_by_file(store: TableStore, info: Any) -> dict[Any, int]:
    table = store.catalog.load_table(T.identifier)
    found = {
        task.file.file_path: task.file.record_count for task in table.scan(snapshot_id=info.snapshot_id).plan_files()
    }
    return {
        path: found[f"file://{path}" if not str(path).startswith("s3://") else str(path)] for path in info.data_files
    }


def test_compaction_keeps_one_partition_per_file(store: TableStore) -> None:
    from meshplane.storage.lifecycle import compact_files

    _publish(store, "r0", BY_DAY)
    # Small increments, one a day across the 5 days: consecutive files span days, compaction must not mix them.
    for day in range(5):
        select = f"select * from ({EVENTS}) where started_at::date = date '2026-03-01' + {day}"
        _publish(store, f"r{day + 1}", BY_DAY, append=True, select=select)
    before = store.current(T)
    assert before is not None and before.row_count == 40
    report = compact_files(store, T, target_bytes=10 << 20, min_files=2, run_id="compact", contract=BY_DAY)
    assert report.snapshot_id is not None
    after = store.current(T)
    assert after is not None and after.row_count == 40 and len(after.data_files) < len(before.data_files)
    table = store.catalog.load_table(T.identifier)
    days = [task.file.partition[0] for task in table.scan().plan_files()]
    assert len(days) == len(set(days)) == 5  # one compacted file per day
    # Each day is one file now: packing them again would write the same five files (the media example's twelve
    # months were rewritten by every maintain), so a second round leaves the table as it is.
    again = compact_files(store, T, target_bytes=10 << 20, min_files=2, run_id="again", contract=BY_DAY)
    assert again.snapshot_id is None and store.current(T) == after
    # A compaction cannot change the partitioning: only a full rewrite can.
    with pytest.raises(StorageError, match="partitioning changed"):
        compact_files(store, T, target_bytes=10 << 20, min_files=2, run_id="c2", contract=TableContract())


def test_a_file_whose_footer_shows_one_partition_is_kept_unread(
    store: TableStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_month = TableContract(partitioning=(("started_at", "month"),))
    [one_month] = _staged(store, "r1", files=1)  # 5 days of March
    mixed = _staged(store, "r2", select=EVENTS.replace("to_hours(range * 6)", "to_days(range * 3)"), files=1)[0]
    with_nulls = store.staging_dir(T, "r3") / "nulls.parquet"
    with_nulls.parent.mkdir(parents=True, exist_ok=True)
    numbered = EVENTS.replace("from range(20)", ", range from range(20)")
    nulls = f"select * exclude (range) replace (if(range % 4 = 0, null, started_at) as started_at) from ({numbered})"
    duckdb.sql(nulls).to_parquet(str(with_nulls))
    read: list[Path] = []
    real = pq.read_table

    def reading(path: Any, *args: Any, **kwargs: Any) -> Any:
        read.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", reading)
    assert store.partition_staged([one_month], by_month) == (one_month,) and read == []
    assert len(store.partition_staged([mixed], by_month)) == 2 and read == [mixed]  # March and April: split
    split = store.partition_staged([with_nulls], by_month)  # March and the null partition: the footer cannot tell
    assert len(split) == 2 and read == [mixed, with_nulls]
