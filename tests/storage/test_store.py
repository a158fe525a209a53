"""Publish, read back, time travel and history, on every catalog backend."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.errors import StorageError
from meshplane.storage import TableId, TableStore
from meshplane.storage.store import CATALOG_NAME

from .conftest import Stage

T = TableId.for_port("sales", "orders", "orders", 1)


def publish(store: TableStore, stage: Stage, run: str, select: str, **props: str):  # type: ignore[no-untyped-def]
    files = stage(T, run, select)
    return store.publish(T, files, pq.read_schema(files[0]), props, run_id=run)


def rows(files: tuple[Path, ...]) -> list[tuple[object, ...]]:
    return duckdb.sql(f"select * from read_parquet({[str(f) for f in files]}) order by 1").fetchall()


def test_table_id_for_port_and_validation() -> None:
    assert TableId.for_port("sales", "orders", "lines", 2) == TableId("sales", "orders__lines__v2")
    assert str(T) == "sales.orders__orders__v1"
    with pytest.raises(StorageError, match="lower_snake_case"):
        TableId("../x", "y")


def test_publish_then_current(store: TableStore, stage: Stage) -> None:
    assert store.current(T) is None
    info = publish(store, stage, "r1", "select range as id, 'a' || range as name from range(5)", fp="abc")
    assert info.row_count == 5
    assert info.properties["fp"] == "abc"
    assert info.properties["meshplane.run-id"] == "r1"
    assert info.schema.names == ["id", "name"]
    assert info.schema.field("name").type == pa.string()
    assert info.timestamp.tzinfo is UTC
    current = store.current(T)
    assert current is not None and current.snapshot_id == info.snapshot_id
    assert current.data_files == info.data_files
    assert all(f.is_absolute() and f.exists() for f in current.data_files)
    assert len(rows(current.data_files)) == 5
    assert store.list_tables() == [T]


def test_two_publishes_keep_the_first_readable(store: TableStore, stage: Stage) -> None:
    first = publish(store, stage, "r1", "select range as id from range(3)", fp="1")
    second = publish(store, stage, "r2", "select range as id, range * 2 as twice from range(10)", fp="2")
    assert second.snapshot_id != first.snapshot_id
    assert store.current(T).snapshot_id == second.snapshot_id  # type: ignore[union-attr]
    old = store.snapshot(T, snapshot_id=first.snapshot_id)
    assert old.properties["fp"] == "1" and old.row_count == 3
    assert old.schema.names == ["id"]  # the schema as of that snapshot
    assert rows(old.data_files) == [(0,), (1,), (2,)]
    assert len(rows(store.current(T).data_files)) == 10  # type: ignore[union-attr]
    history = store.history(T)
    assert [h.snapshot_id for h in history] == [first.snapshot_id, second.snapshot_id]


def test_time_travel_by_timestamp(store: TableStore, stage: Stage) -> None:
    first = publish(store, stage, "r1", "select 1 as v", fp="1")
    time.sleep(0.01)
    second = publish(store, stage, "r2", "select 2 as v", fp="2")
    assert store.snapshot(T, as_of=first.timestamp).snapshot_id == first.snapshot_id
    between = first.timestamp + (second.timestamp - first.timestamp) / 2
    assert store.snapshot(T, as_of=between).snapshot_id == first.snapshot_id
    assert store.snapshot(T, as_of=datetime.now(UTC) + timedelta(days=1)).snapshot_id == second.snapshot_id
    naive = second.timestamp.replace(tzinfo=None)  # read as UTC
    assert store.snapshot(T, as_of=naive).snapshot_id == second.snapshot_id
    with pytest.raises(StorageError, match="has no snapshot as of"):
        store.snapshot(T, as_of=first.timestamp - timedelta(days=1))
    with pytest.raises(StorageError, match="no snapshot 42"):
        store.snapshot(T, snapshot_id=42)
    with pytest.raises(StorageError, match="does not exist"):
        store.snapshot(TableId("sales", "missing"))


def test_schema_evolution_add_drop_promote_and_retype(store: TableStore, stage: Stage) -> None:
    publish(store, stage, "r1", "select 1::INTEGER as a, 'x' as b, 1.5::FLOAT as c, 1 as gone")
    info = publish(store, stage, "r2", "select 'new' as n, 2::BIGINT as a, 2.5::DOUBLE as c, 7 as b")
    assert info.schema.names == ["n", "a", "c", "b"]
    assert info.schema.field("a").type == pa.int64()
    assert info.schema.field("b").type == pa.int32()
    assert rows(info.data_files) == [("new", 2, 2.5, 7)]
    history = store.history(T)
    assert history[0].schema.names == ["a", "b", "c", "gone"]


def test_empty_result_and_empty_file_list(store: TableStore, stage: Stage) -> None:
    info = publish(store, stage, "r1", "select range as id from range(0)")
    assert info.row_count == 0 and len(info.data_files) == 1
    publish(store, stage, "r2", "select range as id from range(4)")
    empty = store.publish(T, [], pa.schema([("id", pa.int64())]), {"fp": "none"})
    assert empty.row_count == 0 and store.current(T).data_files == ()  # type: ignore[union-attr]


def test_rejects_bad_files(store: TableStore, stage: Stage, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.parquet"
    duckdb.sql("select 1 as a").to_parquet(str(outside))
    with pytest.raises(StorageError, match="outside the table's staging folders"):
        store.publish(T, [outside], pq.read_schema(outside))
    with pytest.raises(StorageError, match="does not exist"):
        store.publish(T, [store.staging_dir(T, "r0") / "nope.parquet"], pq.read_schema(outside))
    with pytest.raises(StorageError, match="invalid run id"):
        store.staging_dir(T, "../../etc")
    files = stage(T, "r1", "select 'text' as a")
    with pytest.raises(StorageError, match="do not match the table schema"):
        store.publish(T, files, pa.schema([("a", pa.int64())]))
    with pytest.raises(StorageError, match="Iceberg cannot store"):
        store.publish(T, files, pa.schema([("a", pa.timestamp("ns"))]))
    assert store.current(T) is None  # nothing became visible


def test_failed_publish_keeps_the_old_snapshot(store: TableStore, stage: Stage, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    good = publish(store, stage, "r1", "select range as id from range(3)", fp="good")
    files = stage(T, "r2", "select range as id from range(99)")
    from meshplane.storage import _iceberg

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(_iceberg.FastTransaction, "commit_transaction", boom)
    with pytest.raises(StorageError, match="outcome unknown"):
        store.publish(T, files, pq.read_schema(files[0]), {"fp": "bad"}, run_id="r2")
    monkeypatch.undo()
    current = store.current(T)
    assert current is not None and current.snapshot_id == good.snapshot_id
    assert current.properties["fp"] == "good" and current.row_count == 3
    # The failed run's folder is unreferenced: cleanup removes it and only it.
    removed = store.cleanup_staging(T, "r2")
    assert [p.name for p in removed] == ["r2"]
    assert store.cleanup_staging(T, "r1") == []
    assert all(f.exists() for f in current.data_files)


def test_cleanup_sweep_spares_young_and_referenced_folders(store: TableStore, stage: Stage) -> None:
    first = publish(store, stage, "r1", "select 1 as v")
    publish(store, stage, "r2", "select 2 as v")
    stage(T, "crashed", "select 3 as v")
    assert store.cleanup_staging(T) == []  # too young: may belong to a running build
    removed = store.cleanup_staging(T, min_age=0)
    assert [p.name for p in removed] == ["crashed"]
    assert all(f.exists() for f in first.data_files)  # history stays readable


def test_separate_pyiceberg_client_reads_what_we_write(store: TableStore, stage: Stage, catalog_url: str) -> None:
    first = publish(store, stage, "r1", "select range as id, 'n' || range as name from range(7)")
    publish(store, stage, "r2", "select range as id, 'm' || range as name from range(4)")
    from pyiceberg.catalog.sql import SqlCatalog

    other = SqlCatalog(CATALOG_NAME, uri=catalog_url)
    try:
        table = other.load_table(("sales", "orders__orders__v1"))
        assert table.scan().to_arrow().num_rows == 4
        assert sorted(table.scan(snapshot_id=first.snapshot_id).to_arrow()["name"].to_pylist())[0] == "n0"
        # Replacing never carries old manifests forward (pyiceberg 0.12 would grow the list by one each time).
        assert len(table.current_snapshot().manifests(table.io)) == 2
    finally:
        other.engine.dispose()


def test_many_publishes_keep_commits_cheap_with_expiry(store: TableStore, stage: Stage) -> None:
    """Commit work must not grow with a table's age once history is expired. Counted in Python calls
    (deterministic, unlike time on a shared machine): without expiry each retained snapshot adds ~1,300 calls
    to a commit (pyiceberg parses the whole metadata), so expiry is what bounds it."""
    import cProfile
    import pstats

    from meshplane.storage.lifecycle import expire_snapshots

    calls = []
    for i in range(60):
        files = stage(T, f"r{i}", f"select {i} as v")
        profile = cProfile.Profile()
        profile.enable()
        store.publish(T, files, pq.read_schema(files[0]), {"i": str(i)})
        profile.disable()
        calls.append(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]
        if i % 10 == 9:
            expire_snapshots(store, T, keep_last=5, keep_for=timedelta(0), now=datetime.now(UTC), min_file_age=0)
    early, late = calls[15], calls[55]  # both five commits after an expiry round
    assert late <= early * 1.05, (early, late)
    assert store.current(T).properties["i"] == "59"  # type: ignore[union-attr]
    assert len(store.history(T)) <= 15


_READ_CURRENT = """
import sys
from pathlib import Path
from meshplane.storage import TableId, TableStore

with TableStore(sys.argv[1], Path(sys.argv[2])) as store:
    info = store.snapshot(TableId.for_port("sales", "orders", "orders", 1))
    print(info.snapshot_id, info.row_count, ",".join(info.schema.names), len(info.data_files))
print("pyiceberg" in sys.modules)
"""


def test_a_reader_of_the_current_snapshot_never_loads_pyiceberg(
    store: TableStore, stage: Stage, catalog_url: str
) -> None:
    """A query process resolves each port's current snapshot from the catalog database alone."""
    import subprocess
    import sys

    info = publish(store, stage, "r1", "select range as id, 'a' || range as name from range(5)")
    done = subprocess.run(
        [sys.executable, "-c", _READ_CURRENT, catalog_url, str(store.warehouse)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split("\n")[:2] == [f"{info.snapshot_id} 5 id,name 1", "False"]


def test_a_commit_by_another_writer_is_read_not_the_cached_snapshot(
    store: TableStore, stage: Stage, catalog_url: str
) -> None:
    """The reads cache is keyed by metadata location: a commit it never saw (another tool) is loaded instead."""
    first = publish(store, stage, "r1", "select range as id from range(3)")
    assert store.current(T).snapshot_id == first.snapshot_id  # type: ignore[union-attr]
    from pyiceberg.catalog.sql import SqlCatalog

    other = SqlCatalog(CATALOG_NAME, uri=catalog_url)
    try:
        table = other.load_table(T.identifier)
        table.append(pa.table({"id": pa.array([7], pa.int64())}))
        appended = table.current_snapshot()
    finally:
        other.engine.dispose()
    with TableStore(catalog_url, store.warehouse) as fresh:
        for reader in (store, fresh):
            current = reader.current(T)
            assert current is not None and current.snapshot_id == appended.snapshot_id
            assert current.snapshot_id == reader.snapshot(T).snapshot_id
            assert sorted(r[0] for r in rows(current.data_files)) == [0, 1, 2, 7]


@pytest.mark.parametrize("exists", [True, False], ids=["replace", "create"])
def test_a_commit_landing_between_prepare_and_switch_wins_and_ours_fails(
    store: TableStore, stage: Stage, catalog_url: str, monkeypatch: pytest.MonkeyPatch, exists: bool
) -> None:
    """The new metadata is built on the snapshot this writer loaded; another writer's commit landing before the
    pointer switch makes the switch fail (compare-and-swap): nothing of ours becomes visible, theirs stays."""
    from meshplane.storage import _iceberg as ice

    if exists:
        publish(store, stage, "r1", "select range as id from range(3)")
    switch = ice.PointerSwap.apply
    theirs: list[int] = []

    def another_writer_first(self: ice.PointerSwap, also: Any = None) -> None:
        if theirs:  # the other writer's own switch
            return switch(self, also)
        theirs.append(0)
        with TableStore(catalog_url, store.warehouse) as other:
            files = other.staging_dir(T, "theirs") / "part-0.parquet"
            duckdb.sql("select 42::bigint as id").to_parquet(str(files))
            theirs[0] = other.publish(T, [files], pq.read_schema(files), run_id="theirs").snapshot_id
        return switch(self, also)

    monkeypatch.setattr(ice.PointerSwap, "apply", another_writer_first)
    with pytest.raises(StorageError, match="lost a race with another writer"):
        publish(store, stage, "r2", "select range as id from range(5)")
    monkeypatch.setattr(ice.PointerSwap, "apply", switch)
    current = store.current(T)
    assert current is not None and current.snapshot_id == theirs[0]
    assert rows(current.data_files) == [(42,)]
    again = publish(store, stage, "r3", "select range as id from range(2)")  # the next publish builds on theirs
    assert store.current(T).snapshot_id == again.snapshot_id  # type: ignore[union-attr]
    assert theirs[0] in [h.snapshot_id for h in store.history(T)]


def test_a_long_lived_store_remembers_the_files_of_a_few_snapshots_per_table(store: TableStore, stage: Stage) -> None:
    # A scheduler's store publishes the same tables every day: remembering the files of every snapshot it ever
    # published grew its memory with every build. Each daily append still finds its parent's files.
    from meshplane.storage import Publication
    from meshplane.storage.store import FILE_LISTS_KEPT

    publish(store, stage, "r0", "select 0 as day")
    for day in range(1, 12):
        files = stage(T, f"r{day}", f"select {day} as day")
        [info] = store.publish_all([Publication(T, tuple(files), pq.read_schema(files[0]), append=True)], f"r{day}")
        assert len(info.data_files) == day + 1
    assert len(store._files) <= FILE_LISTS_KEPT
    current = store.current(T)
    assert current is not None and rows(current.data_files) == [(day,) for day in range(12)]


def _cached_locations(store: TableStore, tables: tuple[str, ...]) -> list[object]:
    import sqlalchemy as sa

    key = "WHERE table_namespace = :n AND table_name = :t"
    with store.catalog.engine.connect() as conn:
        return [
            conn.execute(
                sa.text(f"SELECT metadata_location FROM {table} {key}"), {"n": T.namespace, "t": T.name}
            ).scalar()
            for table in tables
        ]


def test_the_caches_move_with_the_pointer_and_never_block_it(store: TableStore, stage: Stage) -> None:
    import sqlalchemy as sa

    from meshplane.storage.store import READS, SUMMARIES

    publish(store, stage, "r1", "select range as id from range(3)")
    pointer, summary, read = _cached_locations(store, ("iceberg_tables", SUMMARIES, READS))
    assert pointer == summary == read  # written in the pointer switch's transaction
    with store.catalog.engine.begin() as conn:  # a cache that cannot be written (dropped by hand)
        conn.execute(sa.text(f"DROP TABLE {READS}"))
    second = publish(store, stage, "r2", "select range as id from range(7)")
    [moved] = _cached_locations(store, ("iceberg_tables",))
    assert moved != pointer  # the pointer switched all the same
    current = store.current(T)
    assert current is not None and current.snapshot_id == second.snapshot_id and current.row_count == 7
