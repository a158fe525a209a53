"""An increment's transform reads only the source files whose footer statistics can hold a row its filter keeps:
the same rows as reading every file, at the day boundaries too, and no pruning where that is not certain."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from meshplane.builds.pruning import prune_sources
from meshplane.engines.base import FileRelation

DAY = datetime(2026, 3, 1)
# What the media example's transform becomes once the increment's bounds are inlined (``start`` is {start}).
TRANSFORM = """
SELECT event_id, started_at FROM listens
WHERE (CAST('{start}' AS TIMESTAMP)) IS NULL OR started_at {op} (CAST('{start}' AS TIMESTAMP))
QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY started_at) = 1
"""


@pytest.fixture
def days(tmp_path: Path) -> tuple[Path, ...]:
    """Three daily files; each day's last event at 23:59:59, the third day's first at midnight."""
    files = []
    for n in range(3):
        day = DAY + timedelta(days=n)
        moments = [day, day + timedelta(hours=12), day + timedelta(hours=23, minutes=59, seconds=59)]
        table = pa.table(
            {"event_id": [f"E{n}-{k}" for k in range(3)], "started_at": pa.array(moments, pa.timestamp("us"))}
        )
        files.append(tmp_path / f"listens_{day.date()}.parquet")
        pq.write_table(table, files[-1])
    return tuple(files)


def _kept(sql: str, files: tuple[Path, ...], **options: str | bool) -> tuple[Path | str, ...]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    relation = prune_sources(tree, {"listens": FileRelation(paths=files, options=options)})["listens"]
    assert isinstance(relation, FileRelation)
    return relation.paths


def _rows(sql: str, files: tuple[Path | str, ...]) -> list[tuple[str, datetime]]:
    read = f"read_parquet({[str(f) for f in files]})"
    return sorted(duckdb.sql(sql.replace("FROM listens", f"FROM {read}")).fetchall())


@pytest.mark.parametrize(
    ("start", "op", "kept"),
    [
        ("2026-03-02T23:59:59", ">", [2]),  # the second day's last event is the watermark: its file has nothing after
        ("2026-03-02T23:59:59", ">=", [1, 2]),  # ...unless the bound includes it
        ("2026-03-02T23:59:58", ">", [1, 2]),
        ("2026-03-03T00:00:00", ">=", [2]),  # the third day's first event, at midnight, on the bound
        ("2026-03-03T23:59:59", ">", [2]),  # nothing after the last file: one file stays, its rows filtered out
    ],
)
def test_only_files_that_can_hold_rows_after_the_bound_are_read_and_the_rows_are_the_same(
    days: tuple[Path, ...], start: str, op: str, kept: list[int]
) -> None:
    sql = TRANSFORM.format(start=start, op=op)
    pruned = _kept(sql, days)
    assert pruned == tuple(days[i] for i in kept)
    assert _rows(sql, pruned) == _rows(sql, days)


def test_a_late_row_in_an_old_file_keeps_that_file(days: tuple[Path, ...]) -> None:
    late = pa.table({"event_id": ["LATE"], "started_at": pa.array([DAY + timedelta(days=5)], pa.timestamp("us"))})
    old = pq.read_table(days[0])
    pq.write_table(pa.concat_tables([old, late]), days[0])  # rewritten in place: its footer is read again
    sql = TRANSFORM.format(start="2026-03-02T23:59:59", op=">")
    assert _kept(sql, days) == (days[0], days[2])
    assert ("LATE", DAY + timedelta(days=5)) in _rows(sql, _kept(sql, days))


@pytest.mark.parametrize(
    "sql",
    [
        # a full run: the bound is NULL, every row passes
        "SELECT * FROM listens WHERE (NULL) IS NULL OR started_at > (NULL)",
        # the source read a second time, unfiltered
        "SELECT * FROM listens WHERE started_at > CAST('2026-03-03 00:00:00' AS TIMESTAMP) "
        "UNION ALL SELECT * FROM listens",
        # the filter only on one side of a join
        "SELECT l.* FROM listens AS l JOIN (SELECT 1 AS x) AS o ON TRUE "
        "WHERE l.started_at > CAST('2026-03-03 00:00:00' AS TIMESTAMP)",
        # a filter that does not bound the rows from below
        "SELECT * FROM listens WHERE started_at > CAST('2026-03-03 00:00:00' AS TIMESTAMP) OR event_id = 'E0-0'",
        # a bound of another type than the column's (DuckDB casts; the footer's values do not compare)
        "SELECT * FROM listens WHERE started_at > CAST('2026-03-03' AS DATE)",
        # a CTE of the source's name hides it
        "WITH listens AS (SELECT * FROM listens) SELECT * FROM listens "
        "WHERE started_at > CAST('2026-03-03 00:00:00' AS TIMESTAMP)",
    ],
)
def test_nothing_is_pruned_where_it_is_not_certain(days: tuple[Path, ...], sql: str) -> None:
    assert _kept(sql, days) == days


def test_reader_options_keep_every_file(days: tuple[Path, ...]) -> None:
    sql = TRANSFORM.format(start="2026-03-02T23:59:59", op=">")
    assert _kept(sql, days, union_by_name=True) == days
