"""What a local Parquet file's footer says of one column: its exact range, rows and nulls, without reading data.

Increments and retention ask the same question of many files on every build (which daily source files can hold
rows after a watermark, what the published table's maximum is, which data files hold expired rows). The answer
comes from the footer's row-group statistics, and only where they are exact: integer, date and timestamp
columns (second to microsecond; nanoseconds do not fit Python's datetime) whose every row group carries a
minimum and maximum (or holds only nulls). Anything else answers None and the caller reads the data.

Footers are cached by path, size and modification time: a file rewritten in place is read again.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ColumnRange", "column_bounds", "column_range", "footer", "identity", "same_schema"]

_CACHED_FOOTERS = 4096
_EXACT_PHYSICAL = {"INT32", "INT64"}
_EXACT_UNITS = ("timeUnit=milliseconds", "timeUnit=microseconds")


@dataclass(frozen=True)
class ColumnRange:
    """A column's range over one file: ``low``/``high`` None when every row is null."""

    low: Any  # int, date or datetime (naive, or zoned for a UTC-adjusted timestamp); None: no value
    high: Any
    rows: int
    nulls: int


class _Footers:
    """Parsed footers, and the column ranges read from them, of recently asked files, keyed by (path, size,
    mtime_ns): a daily build asks again of a year of files, and walking a footer's statistics costs more than
    a stat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._footers: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
        self._ranges: dict[tuple[str, int, int, str], ColumnRange | None] = {}

    @staticmethod
    def _key(path: str) -> tuple[str, int, int] | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return path, stat.st_size, stat.st_mtime_ns

    def metadata(self, path: str, key: tuple[str, int, int] | None = None) -> Any | None:
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        key = key or self._key(path)
        if key is None:
            return None
        with self._lock:
            found = self._footers.get(key)
            if found is not None:
                self._footers.move_to_end(key)
                return found
        try:
            metadata = pq.read_metadata(path)
        except (OSError, ValueError):  # not Parquet, or unreadable: the caller reads the data (and reports)
            return None
        with self._lock:
            self._footers[key] = metadata
            while len(self._footers) > _CACHED_FOOTERS:
                old = self._footers.popitem(last=False)[0]
                self._ranges = {k: v for k, v in self._ranges.items() if k[:3] != old}
        return metadata

    def column_range(self, path: str, column: str, *, strings: bool = False) -> ColumnRange | None:
        key = self._key(path)
        if key is None:
            return None
        cached = (*key, column + "\0bounds" if strings else column)  # a NUL is in no column's name
        with self._lock:
            if cached in self._ranges:
                return self._ranges[cached]
        metadata = self.metadata(path, key)
        found = None
        if metadata is not None:
            found = _range(metadata, column) or (_string_bounds(metadata, column) if strings else None)
        with self._lock:
            if key in self._footers:
                self._ranges[cached] = found
        return found


_FOOTERS = _Footers()


def _local(path: Path | str) -> str | None:
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        return None  # object storage: no cheap stat to key a cache by
    return text.removeprefix("file://")


def footer(path: Path | str) -> Any | None:
    """The local Parquet file ``path``'s footer (pyarrow's FileMetaData), from the cache; None when it is not a
    readable local Parquet file."""
    local = _local(path)
    return _FOOTERS.metadata(local) if local is not None else None


def identity(path: Path | str) -> tuple[str, int, int] | None:
    """What the caches here key a local file by: (path, size, mtime_ns); None for a remote or missing file."""
    local = _local(path)
    return _Footers._key(local) if local is not None else None


def column_range(path: Path | str, column: str) -> ColumnRange | None:
    """``column``'s exact range in the local Parquet file ``path`` from its footer; None when the footer cannot
    say exactly (no such top-level column, another type, a row group without statistics, a remote file)."""
    local = _local(path)
    return _FOOTERS.column_range(local, column) if local is not None else None


def column_bounds(path: Path | str, column: str) -> ColumnRange | None:
    """:func:`column_range`, and for a string column bounds of its values: a writer may shorten a long string's
    statistics, but only outwards (Parquet's rule: a shortened minimum sorts before the values, a shortened
    maximum after them), so a value outside them is in no row; None when a footer cannot say."""
    local = _local(path)
    return _FOOTERS.column_range(local, column, strings=True) if local is not None else None


def _column(metadata: Any, column: str) -> int | None:
    schema = metadata.schema
    index = next((i for i in range(len(schema)) if schema.column(i).path == column), None)
    if index is None or schema.column(index).max_repetition_level != 0 or "." in schema.column(index).path:
        return None
    return index


def _string_bounds(metadata: Any, column: str) -> ColumnRange | None:
    """Bounds of a UTF-8 column's values, compared as Python strings (code point order, which is UTF-8's byte
    order, the order Parquet sorts strings in)."""
    index = _column(metadata, column)
    if index is None:
        return None
    low: str | None = None
    high: str | None = None
    nulls = 0
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(index)
        stats = chunk.statistics
        if chunk.physical_type != "BYTE_ARRAY" or stats is None or not stats.has_null_count:
            return None
        if str(stats.logical_type) != "String":
            return None
        nulls += stats.null_count
        if not stats.has_min_max:
            if stats.null_count != metadata.row_group(group).num_rows:
                return None
            continue
        try:
            least, most = stats.min, stats.max
        except (UnicodeDecodeError, ValueError):  # a statistic cut inside a character
            return None
        if not isinstance(least, str) or not isinstance(most, str):
            return None
        low = least if low is None else min(low, least)
        high = most if high is None else max(high, most)
    return ColumnRange(low, high, metadata.num_rows, nulls)


def _range(metadata: Any, column: str) -> ColumnRange | None:
    index = _column(metadata, column)
    if index is None:
        return None
    low: Any = None
    high: Any = None
    nulls = 0
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group).column(index)
        stats = chunk.statistics
        if chunk.physical_type not in _EXACT_PHYSICAL or stats is None or not stats.has_null_count:
            return None
        logical = str(stats.logical_type)
        if logical.startswith("Timestamp") and not any(unit in logical for unit in _EXACT_UNITS):
            return None
        if not (logical in ("None", "Date") or logical.startswith(("Int(", "Timestamp"))):
            return None
        nulls += stats.null_count
        if not stats.has_min_max:
            if stats.null_count != metadata.row_group(group).num_rows:
                return None  # values without statistics
            continue
        low = stats.min if low is None else min(low, stats.min)
        high = stats.max if high is None else max(high, stats.max)
    return ColumnRange(low, high, metadata.num_rows, nulls)


def same_schema(first: Path | str, second: Path | str) -> bool:
    """Whether two local Parquet files have the same schema (False when either footer cannot be read)."""
    one, other = _local(first), _local(second)
    left = _FOOTERS.metadata(one) if one is not None else None
    right = _FOOTERS.metadata(other) if other is not None else None
    return left is not None and right is not None and bool(left.schema.equals(right.schema))
