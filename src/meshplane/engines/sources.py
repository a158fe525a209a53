"""Reading sources: file globs become a :class:`FileRelation`, PostgreSQL tables an :class:`ArrowRelation`.

Connection strings are passed in by the caller (read from the environment variable ``mesh.yaml``
names); they never appear in error messages.
"""

from __future__ import annotations

import glob
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.engines.base import ArrowRelation, FileFormat, FileRelation, OptionValue
from meshplane.errors import BuildError

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["file_source", "postgres_fingerprint", "postgres_source", "read_postgres_table"]

_FORMATS: tuple[FileFormat, ...] = ("parquet", "csv", "json")
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "parquet": (".parquet", ".parq"),
    "csv": (".csv", ".tsv", ".txt", ".csv.gz"),
    "json": (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz"),
}


def file_source(
    patterns: str | Path | Sequence[str | Path],
    format: FileFormat,
    *,
    root: Path | None = None,
    delimiter: str | None = None,
    options: Mapping[str, OptionValue] | None = None,
) -> FileRelation:
    """Expand glob ``patterns`` (``**`` recurses; relative to ``root``) into one relation.

    A folder stands for every file of ``format`` below it. Raises BuildError naming the pattern
    when nothing matches.
    """
    if format not in _FORMATS:
        raise BuildError(f"unsupported source format {format!r}; use one of {', '.join(_FORMATS)}")
    items = [patterns] if isinstance(patterns, str | Path) else list(patterns)
    base = Path(root) if root is not None else Path.cwd()
    found: list[Path] = []
    for item in items:
        pattern = Path(item) if Path(item).is_absolute() else base / item
        matches = [Path(m) for m in sorted(glob.glob(str(pattern), recursive=True))]
        files: list[Path] = []
        for match in matches:
            if match.is_dir():
                files.extend(p for p in sorted(match.rglob("*")) if p.is_file() and _has_suffix(p, format))
            elif match.is_file():
                files.append(match)
        if not files:
            where = f" (relative to {base})" if not Path(item).is_absolute() else ""
            raise BuildError(f"no {format} files match {item}{where}")
        found.extend(files)
    merged: dict[str, OptionValue] = dict(options or {})
    if delimiter is not None:
        if format != "csv":
            raise BuildError(f"a delimiter only applies to csv sources, not {format}")
        merged["delim"] = delimiter
    unique = tuple(dict.fromkeys(p.resolve() for p in found))
    return FileRelation(paths=unique, format=format, options=merged)


def _has_suffix(path: Path, format: str) -> bool:
    name = path.name.lower()
    return name.endswith(_SUFFIXES[format])


# --- PostgreSQL ----------------------------------------------------------------------------------

# PostgreSQL type name -> Arrow type name; anything else (uuid, json, arrays, bytea...) is read as text.
_PG_TYPES = {
    "bool": "bool",
    "int2": "int16",
    "int4": "int32",
    "int8": "int64",
    "oid": "int64",
    "float4": "float32",
    "float8": "float64",
    "date": "date32",
    "time": "time64",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
}


def postgres_source(url: str, schema: str, table: str, *, columns: Sequence[str] | None = None) -> ArrowRelation:
    """A PostgreSQL table as an engine relation (see :func:`read_postgres_table`)."""
    return ArrowRelation(read_postgres_table(url, schema, table, columns=columns))


def read_postgres_table(url: str, schema: str, table: str, *, columns: Sequence[str] | None = None) -> pa.Table:
    """Read ``schema.table`` into Arrow with one ``COPY ... TO STDOUT`` parsed by Arrow's CSV reader.

    Types follow the table's columns (integers, floats, numerics with precision, dates, timestamps,
    booleans); other types (uuid, json, arrays, bytea, ...) arrive as their text form.
    """
    import psycopg
    from psycopg import sql

    target = sql.Identifier(schema, table)
    try:
        with psycopg.connect(_libpq_url(url), autocommit=True) as conn:
            conn.execute("SET TimeZone TO 'UTC'")
            conn.execute("SET DateStyle TO 'ISO, YMD'")
            conn.execute("SET extra_float_digits TO 3")  # round-trip exact floats
            described = _describe(conn, target, columns)
            select = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(name) for name, _ in described), target
            )
            copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(select)
            buffer = io.BytesIO()
            with conn.cursor() as cur, cur.copy(copy) as stream:
                for chunk in stream:
                    buffer.write(chunk)
    except psycopg.Error as exc:
        raise BuildError(f"cannot read PostgreSQL table {schema}.{table}: {_redact(str(exc), url)}") from exc
    return _parse_csv(buffer.getvalue(), described)


def postgres_fingerprint(url: str, schema: str, table: str, watermark: str | None = None) -> str:
    """What ``schema.table`` holds now, cheaply: its row count and the largest ``watermark`` value, or without
    a declared watermark the newest row version (``max(xmin)``: every insert and update writes a newer one, a
    delete lowers the count). Two equal fingerprints mean the table was not changed in between; it reads no
    rows beyond one aggregate the server answers from the table."""
    import psycopg
    from psycopg import sql

    target = sql.Identifier(schema, table)
    newest = (
        sql.SQL("max({})::text").format(sql.Identifier(watermark))
        if watermark
        else sql.SQL("max(xmin::text::bigint)::text")
    )
    query = sql.SQL("SELECT count(*), {} FROM {}").format(newest, target)
    try:
        with psycopg.connect(_libpq_url(url), autocommit=True) as conn:
            conn.execute("SET TimeZone TO 'UTC'")
            row = conn.execute(query).fetchone()
    except psycopg.Error as exc:
        raise BuildError(f"cannot fingerprint PostgreSQL table {schema}.{table}: {_redact(str(exc), url)}") from exc
    assert row is not None
    return f"{row[0]}:{row[1]}"


def _describe(
    conn: psycopg.Connection[Any], target: Any, columns: Sequence[str] | None
) -> list[tuple[str, pa.DataType]]:
    from psycopg import sql

    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(target))
        description = cur.description or []
        described: list[tuple[str, pa.DataType]] = []
        for col in description:
            info = conn.adapters.types.get(col.type_code)
            described.append((col.name, _arrow_type(info.name if info else "", col.precision, col.scale)))
    if columns is not None:
        by_name = dict(described)
        missing = [c for c in columns if c not in by_name]
        if missing:
            raise BuildError(f"PostgreSQL table has no column(s) {', '.join(missing)}")
        described = [(c, by_name[c]) for c in columns]
    return described


def _arrow_type(pg_type: str, precision: int | None, scale: int | None) -> pa.DataType:
    import pyarrow as pa

    if pg_type == "numeric":
        # Unconstrained numerics have no fixed scale; read them as doubles.
        return pa.decimal128(precision, scale or 0) if precision else pa.float64()
    kind = _PG_TYPES.get(pg_type)
    if kind == "timestamp":
        return pa.timestamp("us")
    if kind == "timestamptz":
        return pa.timestamp("us", tz="UTC")
    if kind == "time64":
        return pa.time64("us")
    if kind is None:
        return pa.string()
    return pa.type_for_alias(kind)


def _parse_csv(data: bytes, described: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
    import pyarrow as pa
    from pyarrow import csv

    schema = pa.schema([pa.field(name, typ) for name, typ in described])
    if not data:
        return schema.empty_table()
    return csv.read_csv(
        io.BytesIO(data),
        read_options=csv.ReadOptions(column_names=schema.names),
        parse_options=csv.ParseOptions(newlines_in_values=True),
        convert_options=csv.ConvertOptions(
            column_types=schema,
            # PostgreSQL's CSV writes NULL unquoted and an empty string as "".
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )


def _libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+psycopg://`` URLs as well as plain libpq ones."""
    return re.sub(r"^postgres(ql)?\+[a-z0-9_]+://", "postgresql://", url)


def _redact(message: str, url: str) -> str:
    password = re.search(r"//[^:/@]+:([^@]+)@", url)
    return message.replace(password.group(1), "***") if password else message
