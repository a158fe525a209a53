"""A partitioned port's staged Parquet files, split so that each file holds the rows of one partition.

An Iceberg data file belongs to exactly one partition of its table's spec (its manifest entry records the
partition's values, which scan planning prunes by). Engines write a transform's result as they like, so the
builder splits the staged files before they are checked: the files audited are the files published. Each file
is read once; a file that already holds one partition is kept as it is (unread when its footer says so).

Transforms (the contract's ``partitionTransform``): ``identity``, and ``year``, ``month``, ``day``, ``hour`` of a
date or timestamp column, computed as Iceberg defines them (on the UTC instant of a timestamp with a time zone).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from meshplane.errors import StorageError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["field_name", "partition_keys", "split_files"]

_MICROS_PER_HOUR = 3_600_000_000
_MICROS_PER_DAY = 24 * _MICROS_PER_HOUR


def field_name(column: str, transform: str) -> str:
    """The partition field's name in the Iceberg spec: the column itself for identity, else ``column_transform``."""
    return column if transform == "identity" else f"{column}_{transform}"


def partition_keys(table: pa.Table, partitioning: Sequence[tuple[str, str]]) -> list[pa.ChunkedArray]:
    """One array per partition field: the transform of its source column, row by row."""
    keys = []
    for column, transform in partitioning:
        if column not in table.column_names:
            raise StorageError(f"the partition column {column!r} is not a column of the result")
        keys.append(_transform(table[column], column, transform))
    return keys


def _transform(values: pa.ChunkedArray, column: str, transform: str) -> pa.ChunkedArray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if transform == "identity":
        return values
    kind = values.type
    if pa.types.is_date(kind):
        if transform == "hour":
            raise StorageError(f"partition column {column!r} is a date: hour() needs a timestamp")
        if transform == "day":
            return values.cast(pa.date32()).cast(pa.int32())
    elif pa.types.is_timestamp(kind):
        micros = pc.cast(values, pa.timestamp("us", kind.tz), safe=False).cast(pa.int64())
        if transform in ("hour", "day"):
            return _floor_divide(micros, _MICROS_PER_HOUR if transform == "hour" else _MICROS_PER_DAY)
        values = micros.cast(pa.timestamp("us"))  # the UTC instant's calendar
    else:
        raise StorageError(f"partition column {column!r} is {kind}: {transform}() needs a date or timestamp column")
    years = pc.subtract(pc.year(values), 1970)
    if transform == "year":
        return years
    if transform == "month":
        return pc.add(pc.multiply(years, 12), pc.subtract(pc.month(values), 1))
    raise StorageError(f"unknown partition transform {transform!r}")


def _floor_divide(values: pa.ChunkedArray, by: int) -> pa.ChunkedArray:
    """Floor division (pyarrow's integer division truncates toward zero; instants before 1970 round down)."""
    import pyarrow.compute as pc

    shifted = pc.if_else(pc.less(values, 0), pc.subtract(values, by - 1), values)
    return pc.divide(shifted, by)


def split_files(paths: Sequence[Path], partitioning: Sequence[tuple[str, str]]) -> tuple[Path, ...]:
    """The staged files rewritten one partition per file, next to the originals (which are removed); a file
    holding one partition already is kept. Raises StorageError naming the file when it cannot be split."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not partitioning:
        return tuple(paths)
    out: list[Path] = []
    for path in paths:
        if _one_partition(path, partitioning):  # a daily increment of a monthly table: nothing to read
            out.append(Path(path))
            continue
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(f"cannot read the staged file {path}: {exc}") from exc
        names = [f"__meshplane_key{i}" for i in range(len(partitioning))]
        keyed = table
        for name, key in zip(names, partition_keys(table, partitioning), strict=True):
            keyed = keyed.append_column(name, key)
        order = [(name, "ascending") for name in names]
        groups = keyed.select(names).group_by(names).aggregate([(names[0], "count", _all())])
        if groups.num_rows <= 1:
            out.append(Path(path))
            continue
        groups = groups.sort_by(order)
        ordered = keyed.sort_by(order).drop_columns(names)
        offset = 0
        for index, count in enumerate(groups[f"{names[0]}_count"].to_pylist()):
            target = Path(path).with_name(f"{Path(path).stem}-p{index:05d}.parquet")
            try:
                pq.write_table(ordered.slice(offset, count), target)
            except (OSError, pa.ArrowException) as exc:
                raise StorageError(f"cannot write the partition file {target}: {exc}") from exc
            out.append(target)
            offset += count
        Path(path).unlink()
    return tuple(out)


def _one_partition(path: Path, partitioning: Sequence[tuple[str, str]]) -> bool:
    """Whether the footer's exact ranges put every row of ``path`` in one partition: the transforms are monotonic,
    so when a column's minimum and maximum have the same key, every value between has it too (Iceberg's own
    check at publish works the same way). False when the footer cannot tell (nulls, no exact statistics)."""
    import pyarrow as pa

    from meshplane.storage.footers import column_range, footer

    metadata = footer(path)
    if metadata is None:
        return False
    schema = metadata.schema.to_arrow_schema()
    ends: dict[str, pa.Array] = {}
    for column, _ in partitioning:
        found = column_range(path, column)
        if found is None or found.nulls or found.low is None or schema.get_field_index(column) < 0:
            return False
        ends[column] = pa.array([found.low, found.high], type=schema.field(column).type)
    keys = partition_keys(pa.table(ends), partitioning)
    return all(key[0].as_py() == key[1].as_py() for key in keys)


def _all() -> object:
    import pyarrow.compute as pc

    return pc.CountOptions(mode="all")
