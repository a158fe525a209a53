"""Bounded tables: retention deletes, snapshot expiry and removal of files nothing refers to.

- :func:`delete_before` removes the rows whose date column is older than a cutoff, as one snapshot of its own
  (an Iceberg OVERWRITE through :meth:`TableStore.publish`, so it is atomic like any publish). It carries the
  previous snapshot's ``meshplane.*`` properties (the build fingerprint), so a plan still sees the port as up to
  date. Rows whose date is null are kept: nothing says they are old. A file with no expired row is kept as it
  is on a local warehouse; on object storage the remaining rows are rewritten (published files are remote).
- :func:`compact_files` rewrites a table's small data files (many appended increments leave one file each) into
  fewer larger ones, in an OVERWRITE snapshot of its own that replaces just those files: the rows are the same,
  the build fingerprint is carried (the port stays up to date) and so is the content's snapshot id
  (:data:`CONTENT_PROPERTY`: consumers' plans see their upstream unchanged). Older snapshots still read the small
  files until expiry drops them, so time travel to every retained snapshot keeps working.
- :func:`expire_snapshots` drops old snapshots from the table metadata, keeping the current one, the newest
  ``keep_last``, every one younger than ``keep_for`` and any the caller protects (pinned time-travel points),
  then deletes the data folders, manifests and metadata files no retained snapshot needs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.errors import StorageError
from meshplane.storage.footers import column_range
from meshplane.storage.store import METADATA_VERSIONS_KEPT, RUN_PROPERTY, TableStore
from meshplane.storage.tables import CONTENT_PROPERTY, DataFileRef, Publication, TableContract, TableId

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "CONTENT_PROPERTY",
    "CompactionReport",
    "ExpiryReport",
    "RetentionReport",
    "compact_files",
    "delete_before",
    "expire_snapshots",
]

CUTOFF_PROPERTY = "meshplane.retention-cutoff"
SMALL_FRACTION = 0.75  # a data file under this fraction of the target size is small


@dataclass(frozen=True)
class RetentionReport:
    table_id: TableId
    cutoff: datetime
    deleted_rows: int
    kept_rows: int
    snapshot_id: int | None  # the retention snapshot (None: nothing was old enough)


@dataclass(frozen=True)
class CompactionReport:
    table_id: TableId
    files_before: int
    files_after: int
    rewritten: int  # small files replaced
    written: int  # larger files now holding their rows
    rows: int  # the rows they held
    snapshot_id: int | None  # the compaction snapshot (None: fewer small files than the threshold)


@dataclass(frozen=True)
class ExpiryReport:
    table_id: TableId
    expired: tuple[int, ...]
    retained: int
    removed_files: int


def delete_before(
    store: TableStore,
    table_id: TableId,
    column: str,
    cutoff: datetime,
    *,
    run_id: str,
    contract: TableContract | None = None,
) -> RetentionReport:
    """Delete the rows whose ``column`` is older than ``cutoff`` in one snapshot (none if none is)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    current = store.current(table_id)
    if current is None:
        return RetentionReport(table_id, cutoff, 0, 0, None)
    if column not in current.schema.names:
        raise StorageError(f"{table_id}: retention column {column!r} is not a column of the table")
    bound = _bound(current.schema.field(column).type, cutoff)
    filesystem = store.remote.filesystem() if store.remote is not None else None
    kept: list[Path] = []
    rewrite: list[tuple[str, pa.Table]] = []
    deleted = remaining = 0
    for ref in current.data_files:
        path = str(ref).removeprefix("s3://") if filesystem is not None else str(ref)
        young = _young_rows(ref, column, bound) if filesystem is None else None
        if young is not None:  # its footer says no row is old: the file stays unread (most do, every build)
            kept.append(Path(str(ref)))
            remaining += young
            continue
        try:
            dates = pq.read_table(path, columns=[column], filesystem=filesystem).column(0)
        except OSError as exc:
            raise StorageError(f"{table_id}: cannot read data file {ref}: {exc}") from exc
        old = int(pc.sum(pc.less(dates, bound)).as_py() or 0)
        deleted += old
        remaining += len(dates) - old
        if old == 0 and filesystem is None:
            kept.append(Path(str(ref)))
        elif old < len(dates):
            rows = pq.read_table(path, filesystem=filesystem)
            young = pc.or_kleene(pc.greater_equal(rows.column(column), bound), pc.is_null(rows.column(column)))
            rewrite.append((Path(str(ref)).name, rows.filter(young)))
    if deleted == 0:
        return RetentionReport(table_id, cutoff, 0, remaining, None)
    folder = store.staging_dir(table_id, run_id)
    files = list(kept)
    for name, rows in rewrite:
        target = folder / name
        pq.write_table(rows, target)
        files.append(target)
    carried = (RUN_PROPERTY, CONTENT_PROPERTY)  # the rows change: consumers must see a new snapshot
    properties = {k: v for k, v in current.properties.items() if k.startswith("meshplane.") and k not in carried}
    properties[CUTOFF_PROPERTY] = cutoff.isoformat()
    try:
        snapshot = store.publish(
            table_id, files, current.schema, properties, run_id=run_id, contract=contract or TableContract()
        )
    except StorageError:
        store.cleanup_staging(table_id, run_id)
        raise
    return RetentionReport(table_id, cutoff, deleted, remaining, snapshot.snapshot_id)


def compact_files(
    store: TableStore,
    table_id: TableId,
    *,
    target_bytes: int,
    min_files: int,
    run_id: str,
    contract: TableContract | None = None,
) -> CompactionReport:
    """Rewrite the current snapshot's small files (under :data:`SMALL_FRACTION` of ``target_bytes``) into files
    of up to ``target_bytes`` each, once there are at least ``min_files`` of them; one snapshot (none if fewer).

    Files are packed in the snapshot's order, so each new file holds consecutive increments; files of another
    Parquet schema than their neighbours (the table's schema evolved) are packed apart. On a partitioned table
    (``contract``'s partitioning, which must be the table's) each new file is split to hold one partition."""
    import pyarrow as pa_module
    import pyarrow.parquet as pq

    current = store.current(table_id)
    if current is None:
        return CompactionReport(table_id, 0, 0, 0, 0, 0, None)
    filesystem = store.remote.filesystem() if store.remote is not None else None
    files = current.data_files
    small = [(ref, size) for ref, size in zip(files, _file_sizes(files, filesystem), strict=True)]
    small = [(ref, size) for ref, size in small if size < target_bytes * SMALL_FRACTION]
    if len(small) < min_files:
        return CompactionReport(table_id, len(files), len(files), 0, 0, 0, None)
    # Bins of consecutive small files of one schema and one partition, each at most target_bytes of input: on a
    # partitioned table a bin across partitions would be split back into as many files as it packed.
    partitioning = contract.partitioning if contract is not None else ()
    bins: list[tuple[pa.Schema, list[DataFileRef], int]] = []
    open_bins: dict[tuple[Any, ...], int] = {}
    for ref, size in small:
        try:
            with pq.ParquetFile(_path(ref, filesystem), filesystem=filesystem) as parquet:
                schema = parquet.schema_arrow.remove_metadata()
                partition = _partition_of(parquet, partitioning)
        except OSError as exc:
            raise StorageError(f"{table_id}: cannot read data file {ref}: {exc}") from exc
        index = open_bins.get(partition)
        last = bins[index] if index is not None else None
        if index is not None and last is not None and last[0].equals(schema) and last[2] + size <= target_bytes:
            last[1].append(ref)
            bins[index] = (last[0], last[1], last[2] + size)
        else:
            open_bins[partition] = len(bins)
            bins.append((schema, [ref], size))
    bins = [b for b in bins if len(b[1]) > 1]  # one file alone is rewritten into the same file
    replaced = [ref for _, refs, _ in bins for ref in refs]
    if len(replaced) < min_files:
        return CompactionReport(table_id, len(files), len(files), 0, 0, 0, None)
    folder = store.staging_dir(table_id, run_id)
    written: list[Path] = []
    rows = 0
    try:
        for number, (schema, refs, _) in enumerate(bins):
            parts = [pq.read_table(_path(ref, filesystem), filesystem=filesystem, schema=schema) for ref in refs]
            combined = pa_module.concat_tables(parts)
            rows += combined.num_rows
            target = folder / f"compacted-{number:05d}.parquet"
            pq.write_table(combined, target, compression="snappy")
            written.append(target)
        # A partitioned table's files hold one partition each: a bin of consecutive files may span several
        # (a month's last daily append next to the next month's first), so its rows are split again.
        written = list(store.partition_staged(written, contract))
        properties = {k: v for k, v in current.properties.items() if k.startswith("meshplane.") and k != RUN_PROPERTY}
        properties[CONTENT_PROPERTY] = current.properties.get(CONTENT_PROPERTY, str(current.snapshot_id))
        publication = Publication(
            table_id, tuple(written), current.schema, properties, contract or TableContract(), replaces=tuple(replaced)
        )
        [snapshot] = store.publish_all([publication], run_id)
    except OSError as exc:
        store.cleanup_staging(table_id, run_id)
        raise StorageError(f"{table_id}: compaction failed reading or writing a data file: {exc}") from exc
    except StorageError:
        store.cleanup_staging(table_id, run_id)
        raise
    after = len(files) - len(replaced) + len(written)
    return CompactionReport(table_id, len(files), after, len(replaced), len(written), rows, snapshot.snapshot_id)


def _partition_of(parquet: Any, partitioning: Sequence[tuple[str, str]]) -> tuple[Any, ...]:
    """The partition a published file holds (each holds one: ``partition_staged``), from its first row; ``()``
    for an unpartitioned table."""
    if not partitioning or parquet.metadata.num_rows == 0:
        return ()
    from meshplane.storage.partitions import partition_keys

    first = parquet.read_row_group(0, columns=sorted({column for column, _ in partitioning})).slice(0, 1)
    return tuple(key[0].as_py() for key in partition_keys(first, partitioning))


def _path(ref: DataFileRef, filesystem: Any) -> str:
    return str(ref).removeprefix("s3://") if filesystem is not None else str(ref)


def _file_sizes(files: Collection[DataFileRef], filesystem: Any) -> list[int]:
    if filesystem is None:
        try:
            return [Path(str(ref)).stat().st_size for ref in files]
        except OSError as exc:
            raise StorageError(f"cannot read the size of a data file: {exc}") from exc
    try:
        infos = filesystem.get_file_info([_path(ref, filesystem) for ref in files])
    except OSError as exc:
        raise StorageError(f"cannot read the size of a data file in object storage: {exc}") from exc
    return [int(info.size or 0) for info in infos]


def _young_rows(ref: DataFileRef, column: str, bound: Any) -> int | None:
    """The local file's rows when its footer says none of ``column`` is before ``bound`` (nulls are kept);
    None when it may hold an older one, or cannot say."""
    found = column_range(ref, column)
    if found is None:
        return None
    try:
        young = found.low is None or found.low >= bound.as_py()
    except TypeError:  # the footer's value and the cutoff do not compare: read the column
        return None
    return found.rows if young else None


def _bound(arrow_type: Any, cutoff: datetime) -> Any:
    """The cutoff as a scalar comparable with the column (a date column compares with the cutoff's date)."""
    import pyarrow as pa_module

    if pa_module.types.is_date(arrow_type):
        return pa_module.scalar(cutoff.date(), type=arrow_type)
    if pa_module.types.is_timestamp(arrow_type):
        moment = cutoff if arrow_type.tz is not None else cutoff.replace(tzinfo=None)
        return pa_module.scalar(moment, type=arrow_type)
    raise StorageError(f"a retention column must be a date or timestamp, not {arrow_type}")


def expire_snapshots(
    store: TableStore,
    table_id: TableId,
    *,
    keep_last: int,
    keep_for: timedelta,
    now: datetime,
    protect: Collection[int] = (),
    min_file_age: float = 3600.0,
) -> ExpiryReport:
    """Expire the snapshots no rule keeps, then delete what only they referred to.

    Files younger than ``min_file_age`` seconds are never deleted: a build still staging may own them.
    """
    with store.lock(table_id):
        table = store._load(table_id)
        if table is None:
            return ExpiryReport(table_id, (), 0, 0)
        snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms, reverse=True)
        current = table.current_snapshot()
        horizon = (now - keep_for).timestamp() * 1000
        keep = {s.snapshot_id for s in snapshots[: max(keep_last, 1)]}
        keep |= {s.snapshot_id for s in snapshots if s.timestamp_ms >= horizon}
        keep |= set(protect) | ({current.snapshot_id} if current is not None else set())
        expired = tuple(s.snapshot_id for s in snapshots if s.snapshot_id not in keep)
        if expired:
            table.maintenance.expire_snapshots().by_ids(list(expired)).commit()
        table = store._load(table_id)
    removed = len(store.cleanup_staging(table_id, min_age=min_file_age))
    if table is not None:
        removed += _remove_unreferenced_metadata(store, table, min_file_age)
    return ExpiryReport(table_id, expired, len(keep & {s.snapshot_id for s in snapshots}), removed)


def _remove_unreferenced_metadata(store: TableStore, table: Any, min_age: float) -> int:
    """Manifest lists and manifests of expired snapshots, and metadata.json versions past the kept ones."""
    from pyarrow import fs

    needed: set[str] = {table.metadata_location}
    needed |= {entry.metadata_file for entry in table.metadata.metadata_log[-METADATA_VERSIONS_KEPT:]}
    for snapshot in table.metadata.snapshots:
        needed.add(snapshot.manifest_list)
        needed |= {manifest.manifest_path for manifest in snapshot.manifests(table.io)}
    filesystem, root = _filesystem(store, table.location() + "/metadata")
    try:
        listing = filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))
    except OSError as exc:
        raise StorageError(f"cannot list {root}: {exc}") from exc
    needed_paths = {_strip(uri) for uri in needed}
    cutoff = time.time() - min_age
    removed = 0
    for info in listing:
        if info.type != fs.FileType.File or _strip(info.path) in needed_paths:
            continue
        if not info.path.endswith((".avro", ".metadata.json")):
            continue
        if info.mtime is not None and info.mtime.timestamp() > cutoff:
            continue
        with contextlib.suppress(FileNotFoundError):
            filesystem.delete_file(info.path)
            removed += 1
    return removed


def _filesystem(store: TableStore, uri: str) -> tuple[Any, str]:
    from pyarrow import fs

    if store.remote is not None:
        return store.remote.filesystem(), _strip(uri)
    return fs.LocalFileSystem(), _strip(uri)


def _strip(uri: str) -> str:
    """A URI as the path its pyarrow file system takes (a bucket key, or a local path)."""
    from urllib.parse import unquote, urlparse

    if uri.startswith("s3://"):
        return uri.removeprefix("s3://")
    return unquote(urlparse(uri).path) if uri.startswith("file:") else uri
