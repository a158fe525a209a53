"""Governed queries for the API and the SQL page, through the facade's ``connect(as_user=...)``.

The server never runs SQL itself: it asks the mesh facade for a connection as the signed-in user, whose
gateway parses, authorizes, masks, filters and audits. Until the facade offers ``connect``, queries answer
503 with a clear message.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING, Any

from meshplane.errors import MeshError
from meshplane.types import Principal

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["QueryUnavailable", "arrow_stream", "query_as", "table_json"]


class QueryUnavailable(MeshError):
    """This build of meshplane has no governed query gateway on the facade yet."""


def query_as(mesh: Any, principal: Principal, sql: str) -> pa.Table:
    connect = getattr(mesh, "connect", None)
    if connect is None:
        raise QueryUnavailable("governed queries are not available in this build: the query gateway is not wired yet")
    connection = connect(as_user=principal.username)
    try:
        result = connection.sql(sql)
        table: pa.Table = getattr(result, "arrow", result)  # the facade's ResultTable wraps an Arrow table
    finally:
        close = getattr(connection, "close", None)
        if callable(close):
            close()
    return table


def arrow_stream(table: pa.Table) -> bytes:
    import pyarrow as pa_module

    sink = pa_module.BufferOutputStream()
    with pa_module.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _cell(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cell(v) for v in value]
    return value


def table_json(table: pa.Table, limit: int) -> dict[str, Any]:
    """Columns with types, and at most ``limit`` rows as lists of JSON values."""
    shown = table.slice(0, limit)
    columns = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    rows = [[_cell(v) for v in row.values()] for row in shown.to_pylist()]
    return {"columns": columns, "rows": rows, "row_count": table.num_rows, "truncated": table.num_rows > limit}
