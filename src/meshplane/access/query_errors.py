"""Turn DuckDB's errors into messages a consumer may see.

DuckDB's messages can carry data values (``Could not convert string 'alice@example.com' to INT32``), the
rewritten SQL (with file paths and the consumer's hashing key) and file names. Errors raised while a query
runs can only come from data, so they keep their kind and nothing else; errors raised while DuckDB binds
the query come from the query text and the governed schema, so their first line is kept with every quoted
string, path and gateway-internal name removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from meshplane.errors import QueryRejected

__all__ = ["QueryFailed", "sanitize_engine_error"]


class QueryFailed(QueryRejected):
    """DuckDB refused or failed the rewritten query; the message is sanitised."""


_COMPILE_TIME = {
    "ParserException": "syntax error",
    "BinderException": "binder error",
    "CatalogException": "unknown name",
    "NotImplementedException": "not supported",
}
_RUN_TIME = {
    "ConversionException": "a value could not be converted",
    "OutOfRangeException": "a value was out of range",
    "InvalidInputException": "invalid input",
    "TypeMismatchException": "type mismatch",
    "ConstraintException": "constraint violated",
    "OutOfMemoryException": "the query exceeded its memory limit",
    "PermissionException": "the query tried to use something outside its grant",
    "IOException": "a data file could not be read",
    "InterruptException": "the query was interrupted",
}
_SINGLE_QUOTED = re.compile(r"'(?:[^']|'')*'?")
_DOUBLE_QUOTED_PATH = re.compile(r'"[^"\n]*[/\\][^"\n]*"')
_PATHISH = re.compile(r"(?:[A-Za-z]:)?[/\\][^\s\"'(),\]]+")
_MAX_DETAIL = 240
_CAST = re.compile(r"to (?P<type>[A-Z][A-Z0-9_]*(?:\([0-9, ]+\))?) when casting from source column (?P<column>\w+)")


def sanitize_engine_error(error: BaseException, *, secrets: Iterable[str] = ()) -> QueryFailed:
    """A QueryFailed whose message holds no data value, path, hashing key or rewritten SQL."""
    kind = getattr(error, "kind", None) or type(error).__name__  # RemoteError: raised in a child process
    if kind in _COMPILE_TIME:
        detail = _scrub(str(error), secrets)
        suffix = f": {detail}" if detail else ""
        return QueryFailed(f"the query is invalid ({_COMPILE_TIME[kind]}){suffix}")
    reason = _RUN_TIME.get(kind, "the engine reported an error")
    cast = _CAST.search(str(error)) if kind == "ConversionException" else None
    if cast is not None:  # the column and the target type come from the query, never from the data
        column, target = cast.group("column"), cast.group("type")
        reason = f"a value of column {column} could not be converted to {target} (use TRY_CAST to get NULL instead)"
    return QueryFailed(f"the query failed while running: {reason}")


def _scrub(message: str, secrets: Iterable[str]) -> str:
    first = message.split("\n", 1)[0]
    first = re.sub(r"^[A-Za-z ]+Error:\s*", "", first)
    for secret in secrets:
        if secret:
            first = first.replace(secret, "?")
    first = _SINGLE_QUOTED.sub("'?'", first)
    first = _DOUBLE_QUOTED_PATH.sub('"?"', first)
    first = _PATHISH.sub("?", first)
    first = first.replace("__mesh_raw", "?")
    if "read_parquet" in first.lower():
        return ""
    return first[:_MAX_DETAIL].strip()
