"""Parquet footers answer a column's range only where their statistics are exact, and a file rewritten in place
is read again."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from meshplane.storage.footers import ColumnRange, column_range, same_schema


def _write(path: Path, table: pa.Table, **options: object) -> Path:
    pq.write_table(table, path, **options)
    return path


def test_the_range_spans_every_row_group_and_counts_nulls(tmp_path: Path) -> None:
    moments = pa.array([datetime(2026, 1, 2), None, datetime(2026, 1, 1), None, None, None], pa.timestamp("us"))
    table = pa.table({"t": moments, "n": [3, 1, 2, 5, 4, None], "d": [date(2026, 1, k + 1) for k in range(6)]})
    path = _write(tmp_path / "a.parquet", table, row_group_size=2)  # the last two groups hold only null t
    assert column_range(path, "t") == ColumnRange(datetime(2026, 1, 1), datetime(2026, 1, 2), rows=6, nulls=4)
    assert column_range(path, "n") == ColumnRange(1, 5, rows=6, nulls=1)
    assert column_range(path, "d") == ColumnRange(date(2026, 1, 1), date(2026, 1, 6), rows=6, nulls=0)


def test_no_answer_where_the_footer_cannot_say_exactly(tmp_path: Path) -> None:
    table = pa.table(
        {
            "ns": pa.array([1, 2], pa.timestamp("ns")),  # finer than Python's datetime
            "f": [1.5, 2.5],  # floats: not compared by footers
            "s": ["a", "b"],  # text: statistics may be truncated
        }
    )
    path = _write(tmp_path / "a.parquet", table)
    assert [column_range(path, c) for c in ("ns", "f", "s", "missing")] == [None] * 4
    plain = _write(tmp_path / "b.parquet", pa.table({"n": [1, 2]}), write_statistics=False)
    assert column_range(plain, "n") is None
    assert column_range(tmp_path / "absent.parquet", "n") is None
    assert column_range("s3://bucket/a.parquet", "n") is None


def test_a_file_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.parquet", pa.table({"n": [1, 2]}))
    assert column_range(path, "n") == ColumnRange(1, 2, rows=2, nulls=0)
    before = os.stat(path).st_mtime_ns
    _write(path, pa.table({"n": [1, 2, 9]}))
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert column_range(path, "n") == ColumnRange(1, 9, rows=3, nulls=0)


def test_same_schema(tmp_path: Path) -> None:
    one = _write(tmp_path / "a.parquet", pa.table({"n": [1]}))
    two = _write(tmp_path / "b.parquet", pa.table({"n": [2]}))
    other = _write(tmp_path / "c.parquet", pa.table({"n": [2], "m": [3]}))
    assert same_schema(one, two) and not same_schema(one, other)
    assert not same_schema(one, tmp_path / "absent.parquet")
