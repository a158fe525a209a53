"""Reading what an engine staged, and comparing rows across engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from meshplane.engines.base import FileRelation, StagedResult


def table(result: StagedResult) -> pa.Table:
    """The staged rows as one Arrow table in the result's schema."""
    parts = [pq.read_table(f) for f in result.files]
    return pa.concat_tables(parts).cast(result.schema) if parts else result.schema.empty_table()


def rows(result: StagedResult | pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, sorted by their text form: engines promise no row order."""
    data = table(result) if isinstance(result, StagedResult) else result
    return sorted(data.to_pylist(), key=repr)


def parquet(path: Path, sql: str) -> FileRelation:
    """Write ``sql``'s rows (DuckDB) to one Parquet file and return it as an input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(sql).to_parquet(str(path))
    return FileRelation(paths=(path,))
