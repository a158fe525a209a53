"""The warehouse on S3 (moto's server on loopback): publish, time travel, cleanup, as on local disk."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.storage import TableId, TableStore
from meshplane.storage.objectstore import s3_location

T = TableId("sales", "orders__orders__v1")


@pytest.fixture
def s3_store(s3_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    bucket = s3_env.create_bucket()
    location = s3_location(f"s3://{bucket}/warehouse")
    with TableStore(f"sqlite:///{tmp_path / 'catalog.db'}", location, scratch=tmp_path / "staging") as store:
        yield store


def _stage(store: TableStore, run_id: str, select: str) -> list[Path]:
    target = store.staging_dir(T, run_id) / "part-0.parquet"
    duckdb.sql(select).to_parquet(str(target))
    return [target]


def test_publish_uploads_and_commits_in_the_bucket(s3_store: TableStore) -> None:
    files = _stage(s3_store, "r1", "select range as id from range(5)")
    first = s3_store.publish(T, files, pq.read_schema(files[0]), {"k": "1"}, run_id="r1")
    assert not files[0].exists()  # the local staged copy is gone once published
    assert first.data_files and all(str(f).startswith(f"{s3_store.location}/sales/") for f in first.data_files)
    assert str(first.data_files[0]).endswith("/data/r1/part-0.parquet")
    assert s3_store.read_arrow(first).num_rows == 5

    files = _stage(s3_store, "r2", "select range as id from range(3)")
    second = s3_store.publish(T, files, pq.read_schema(files[0]), run_id="r2")
    # A fresh store (another process) finds the metadata in the bucket through the catalog.
    with TableStore(s3_store.catalog_url, s3_store.remote, scratch=s3_store.warehouse) as other:  # type: ignore[arg-type]
        current = other.current(T)
        assert current is not None and current.snapshot_id == second.snapshot_id
        assert other.read_arrow(other.snapshot(T, snapshot_id=first.snapshot_id)).num_rows == 5  # time travel
        assert [s.snapshot_id for s in other.history(T)] == [first.snapshot_id, second.snapshot_id]


def test_cleanup_removes_unreferenced_runs_from_the_bucket(s3_store: TableStore) -> None:
    from pyarrow import fs

    files = _stage(s3_store, "kept", "select 1 as id")
    s3_store.publish(T, files, pq.read_schema(files[0]), run_id="kept")
    assert s3_store.remote is not None
    bucket = s3_store.remote.filesystem()
    # A build that uploaded and died before its commit leaves an orphan run folder behind.
    orphan = s3_store.remote.key_of(s3_store.table_uri(T) + "/data/crashed/part-0.parquet")
    with bucket.open_output_stream(orphan) as out:
        out.write(b"not committed")
    s3_store.cleanup_staging(T, "crashed")
    assert bucket.get_file_info(orphan).type == fs.FileType.NotFound
    current = s3_store.current(T)
    assert current is not None
    assert all(bucket.get_file_info(str(f).removeprefix("s3://")).is_file for f in current.data_files)


def test_credentials_never_show_in_reprs(s3_env) -> None:  # type: ignore[no-untyped-def]
    location = s3_location("s3://bucket/prefix")
    assert location.secret_access_key == s3_env.env()["AWS_SECRET_ACCESS_KEY"]
    assert s3_env.env()["AWS_SECRET_ACCESS_KEY"] not in repr(location)
    assert s3_env.env()["AWS_ACCESS_KEY_ID"] not in repr(location)


def test_compaction_in_the_bucket_keeps_rows_and_time_travel(s3_store: TableStore) -> None:
    """Appended increments in the bucket are compacted into one object; the snapshot before still reads them."""
    from collections import Counter

    from meshplane.storage import Publication
    from meshplane.storage.lifecycle import compact_files

    files = _stage(s3_store, "r0", "select range as id from range(5)")
    s3_store.publish(T, files, pq.read_schema(files[0]), {"meshplane.code": "c1"}, run_id="r0")
    for day in range(1, 6):
        staged = _stage(s3_store, f"r{day}", f"select range + {10 * day} as id from range(3)")
        publication = Publication(T, tuple(staged), pq.read_schema(staged[0]), {"meshplane.code": "c1"}, append=True)
        s3_store.publish_all([publication], f"r{day}")
    before = s3_store.current(T)
    assert before is not None and len(before.data_files) == 6
    rows = Counter(s3_store.read_arrow(before).column("id").to_pylist())
    report = compact_files(s3_store, T, target_bytes=1 << 20, min_files=5, run_id="compaction-1")
    assert (report.files_before, report.files_after, report.rewritten, report.rows) == (6, 1, 6, 20)
    after = s3_store.current(T)
    assert after is not None and after.snapshot_id == report.snapshot_id
    assert [str(f) for f in after.data_files] == [f"{s3_store.table_uri(T)}/data/compaction-1/compacted-00000.parquet"]
    assert Counter(s3_store.read_arrow(after).column("id").to_pylist()) == rows
    assert after.properties["meshplane.code"] == "c1"  # the build's fingerprint is carried
    assert after.properties["meshplane.content-snapshot"] == str(before.snapshot_id)
    old = s3_store.snapshot(T, snapshot_id=before.snapshot_id)
    assert Counter(s3_store.read_arrow(old).column("id").to_pylist()) == rows  # time travel reads the small files
