"""Fixtures of the storage suite: one store per catalog backend (SQLite always, PostgreSQL if marked)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.storage import TableId, TableStore

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

Stage = Callable[[TableId, str, str], list[Path]]


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The catalog store conformance axis: every storage test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    # One throw-away database per test keeps PostgreSQL runs independent.
    import psycopg

    name = f"mp_{uuid.uuid4().hex[:10]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def store(catalog_url: str, tmp_path: Path) -> Iterator[TableStore]:
    with TableStore(catalog_url, tmp_path / "warehouse") as s:
        yield s


@pytest.fixture
def stage(store: TableStore) -> Stage:
    """Write the rows of a DuckDB query as one Parquet file into a run's staging folder."""

    def write(table: TableId, run_id: str, select: str) -> list[Path]:
        target = store.staging_dir(table, run_id) / "part-0.parquet"
        duckdb.sql(select).to_parquet(str(target))
        return [target]

    return write


def schema_of(files: list[Path]):  # type: ignore[no-untyped-def]
    return pq.read_schema(files[0]) if files else None
