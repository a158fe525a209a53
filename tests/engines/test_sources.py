"""Sources: file globs (CSV, Parquet, JSON) and PostgreSQL tables, read through the DuckDB engine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.engines.duckdb import DuckDBEngine
from meshplane.engines.sources import file_source, postgres_source, read_postgres_table
from meshplane.errors import BuildError

PG = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=2) as e:
        yield e


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "listens" / "2024").mkdir(parents=True)
    for i in range(3):
        target = root / "listens" / "2024" / f"p{i}.parquet"
        duckdb.sql(f"select {i} as day, range as n from range(5)").to_parquet(str(target))
    (root / "shows.csv").write_text("id;title\n1;Alpha\n2;Beta\n")
    (root / "hosts.jsonl").write_text("\n".join(json.dumps({"id": i, "host": f"h{i}"}) for i in range(4)))
    return root


def count(engine: DuckDBEngine, relation) -> int:  # type: ignore[no-untyped-def]
    return int(engine.query("select count(*) as n from src", {"src": relation})["n"][0].as_py())


def test_parquet_glob_recursive_and_folder(engine: DuckDBEngine, data: Path) -> None:
    relation = file_source("listens/**/*.parquet", "parquet", root=data)
    assert len(relation.paths) == 3 and all(p.is_absolute() for p in relation.paths)
    assert count(engine, relation) == 15
    assert file_source(data / "listens", "parquet").paths == relation.paths  # a folder means its files


def test_csv_with_delimiter(engine: DuckDBEngine, data: Path) -> None:
    relation = file_source("*.csv", "csv", root=data, delimiter=";")
    table = engine.query("select * from shows order by id", {"shows": relation})
    assert table.to_pylist() == [{"id": 1, "title": "Alpha"}, {"id": 2, "title": "Beta"}]


def test_json_lines(engine: DuckDBEngine, data: Path) -> None:
    relation = file_source(["hosts.jsonl"], "json", root=data)
    assert count(engine, relation) == 4


def test_nothing_matches_names_the_pattern(data: Path) -> None:
    with pytest.raises(BuildError, match=r"no parquet files match missing/\*\.parquet \(relative to .*data\)"):
        file_source("missing/*.parquet", "parquet", root=data)
    with pytest.raises(BuildError, match="unsupported source format"):
        file_source("*.csv", "xml", root=data)  # type: ignore[arg-type]
    with pytest.raises(BuildError, match="only applies to csv"):
        file_source("*.jsonl", "json", root=data, delimiter=",")


@pytest.fixture
def pg_table() -> Iterator[str]:
    import psycopg

    name = f"listens_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(
            f"""create table public.{name} (
                id int8 primary key, small int2, ok bool, price numeric(10,2), ratio float8,
                day date, at timestamp, at_tz timestamptz, note text, tag uuid, doc jsonb)"""
        )
        conn.execute(
            f"""insert into public.{name} values
            (1, 7, true, 12.34, 0.1, '2024-02-29', '2024-02-29 10:11:12.123456', '2024-02-29 10:00:00+02',
             'line one
line "two", comma', '00000000-0000-0000-0000-000000000001', '{{"a": 1}}'),
            (2, null, false, null, null, null, null, null, '', null, null)"""
        )
        conn.execute(f"insert into public.{name} (id) select g from generate_series(3, 2000) g")
    try:
        yield name
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"drop table public.{name}")


@pytest.mark.postgres
def test_postgres_table_typed(pg_table: str) -> None:
    table = read_postgres_table("postgresql+psycopg://postgres@127.0.0.1:5432/test", "public", pg_table)
    assert table.num_rows == 2000
    types = {f.name: f.type for f in table.schema}
    assert types["id"] == pa.int64() and types["small"] == pa.int16() and types["ok"] == pa.bool_()
    assert types["price"] == pa.decimal128(10, 2) and types["at_tz"] == pa.timestamp("us", tz="UTC")
    rows = sorted(table.to_pylist(), key=lambda r: r["id"])
    first, second = rows[0], rows[1]
    assert first["price"] == Decimal("12.34") and first["ratio"] == 0.1 and first["day"] == date(2024, 2, 29)
    assert first["at"] == datetime(2024, 2, 29, 10, 11, 12, 123456)
    assert first["at_tz"] == datetime(2024, 2, 29, 8, 0, tzinfo=UTC)
    assert first["note"] == 'line one\nline "two", comma'
    assert first["tag"] == "00000000-0000-0000-0000-000000000001" and json.loads(first["doc"]) == {"a": 1}
    assert second["note"] == "" and second["small"] is None and second["ok"] is False  # '' is not NULL


@pytest.mark.postgres
def test_postgres_source_in_a_sql_transform(pg_table: str, engine: DuckDBEngine, tmp_path: Path) -> None:
    relation = postgres_source(PG, "public", pg_table, columns=["id", "ok"])
    result = engine.stage_sql("select count(*) as n from listens where id > 1", {"listens": relation}, tmp_path / "o")
    assert result.row_count == 1
    assert duckdb.sql(f"select n from '{result.files[0]}'").fetchone() == (1999,)


@pytest.mark.postgres
def test_postgres_errors_are_clear_and_hide_secrets(pg_table: str) -> None:
    with pytest.raises(BuildError, match=r"cannot read PostgreSQL table public.no_such_table"):
        read_postgres_table(PG, "public", "no_such_table")
    with pytest.raises(BuildError) as info:
        read_postgres_table("postgresql://postgres:s3cret@127.0.0.1:1/test", "public", pg_table)
    assert "s3cret" not in str(info.value)
    with pytest.raises(BuildError, match="no column"):
        read_postgres_table(PG, "public", pg_table, columns=["nope"])
