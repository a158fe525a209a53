"""What a client's statement is, and the SQL the gateway or the catalog is given for it.

Statements fall in three kinds. Session commands (BEGIN, SET, SHOW, ...) are answered by the session.
Catalog queries (they name ``pg_catalog``, ``information_schema`` or a ``pg_*`` relation, or name no relation at
all, like ``SELECT 1`` or ``SELECT version()``) run on the session's metadata-only catalog database.
Everything else is a data query and goes, as the client wrote it, through the governed gateway; only two
client conventions are translated first, as tree rewrites: ``$n`` parameters become literals, and a
``schema."product.port"`` name (how ports are listed) becomes the port's address.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from meshplane.sql import render

__all__ = ["Kind", "Statement", "bind_parameters", "classify", "split_statements"]

CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema"})


class Kind(enum.Enum):
    EMPTY = "empty"
    SESSION = "session"  # BEGIN, SET, SHOW, ...: answered by the session itself
    CATALOG = "catalog"  # metadata queries: the catalog database
    DATA = "data"  # everything else: the governed gateway
    COPY_OUT = "copy"  # COPY (query) TO STDOUT: a data query sent in COPY format
    REFUSED = "refused"  # writes and other commands a read-only server does not run


@dataclass(frozen=True, slots=True)
class Statement:
    text: str
    kind: Kind
    command: str = ""
    """The first keyword(s), upper case: BEGIN, SET, SHOW, SELECT, ..."""
    copy_binary: bool = False
    cursor: str = ""
    """DECLARE, FETCH and CLOSE: the SQL-level cursor's name."""
    count: int = 0
    """FETCH: how many rows (0: all)."""


_SESSION = {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SET", "RESET", "SHOW", "DISCARD", "DEALLOCATE",
            "LISTEN", "UNLISTEN", "CLOSE", "SAVEPOINT", "RELEASE", "CHECKPOINT"}  # fmt: skip
_QUERY = {"SELECT", "WITH", "VALUES", "TABLE", "FROM", "(", "DESCRIBE", "SUMMARIZE", "EXPLAIN"}
_DECLARE = re.compile(r"^DECLARE\s+(?P<name>\"[^\"]+\"|\w+)\s+(?P<binary>BINARY\s+)?(?:ASENSITIVE\s+|INSENSITIVE\s+)?"
                      r"(?:NO\s+)?(?:SCROLL\s+)?CURSOR\s+(?:WITH(?:OUT)?\s+HOLD\s+)?FOR\s+(?P<query>.*)$",
                      re.IGNORECASE | re.DOTALL)  # fmt: skip
_FETCH = re.compile(r"^(?:FETCH|MOVE)\s+(?:(?:FORWARD|NEXT)\s+)?(?P<count>\d+|ALL)?\s*(?:FROM|IN)?\s*"
                    r"(?P<name>\"[^\"]+\"|\w+)\s*;?\s*$", re.IGNORECASE)  # fmt: skip
_CLOSE = re.compile(r"^CLOSE\s+(?P<name>\"[^\"]+\"|\w+)\s*;?\s*$", re.IGNORECASE)
_COPY = re.compile(r"^\s*copy\s*\((?P<query>.*)\)\s*to\s+stdout\b(?P<options>.*)$", re.IGNORECASE | re.DOTALL)


def split_statements(text: str) -> list[str]:
    """The statements of a simple query, split at top-level semicolons (quotes and comments respected)."""
    try:
        tokens = sqlglot.tokenize(text, read="postgres")
    except SqlglotError:
        return [text] if text.strip() else []
    parts, start = [], 0
    for token in tokens:
        if token.token_type is TokenType.SEMICOLON:
            parts.append(text[start : token.start])
            start = token.end + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip() and not _only_comments(p)]


def _only_comments(text: str) -> bool:
    try:
        return not sqlglot.tokenize(text, read="postgres")
    except SqlglotError:
        return False


def classify(text: str) -> Statement:
    stripped = text.strip()
    if not stripped or _only_comments(stripped):
        return Statement(text, Kind.EMPTY)
    copy = _COPY.match(stripped)
    if copy:
        binary = "binary" in copy.group("options").lower()
        return Statement(copy.group("query"), Kind.COPY_OUT, "COPY", copy_binary=binary)
    first = stripped.split(None, 1)[0].rstrip(";").upper()
    first = "(" if first.startswith("(") else first
    declare = _DECLARE.match(stripped) if first == "DECLARE" else None
    if declare:
        inner = classify(declare.group("query"))
        if inner.kind not in (Kind.DATA, Kind.CATALOG):
            return Statement(stripped, Kind.REFUSED, "DECLARE")
        return Statement(inner.text, inner.kind, "DECLARE", cursor=declare.group("name").strip('"'),
                         copy_binary=bool(declare.group("binary")))  # fmt: skip
    fetch = _FETCH.match(stripped) if first == "FETCH" else None
    if fetch:
        count = fetch.group("count")
        return Statement(stripped, Kind.SESSION, "FETCH", cursor=fetch.group("name").strip('"'),
                         count=0 if count is None or count.upper() == "ALL" else int(count))  # fmt: skip
    close = _CLOSE.match(stripped) if first == "CLOSE" else None
    if close:
        return Statement(stripped, Kind.SESSION, "CLOSE", cursor=close.group("name").strip('"'))
    if first in _SESSION:
        return Statement(stripped, Kind.SESSION, first)
    if first not in _QUERY:
        return Statement(stripped, Kind.REFUSED, first)
    return Statement(stripped, Kind.CATALOG if is_catalog_query(stripped) else Kind.DATA, "SELECT")


def is_catalog_query(text: str) -> bool:
    """Whether ``text`` reads the system catalog rather than data (see the module docstring)."""
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except SqlglotError:
        try:
            tree = sqlglot.parse_one(_pg_operators(text), read="postgres")
        except SqlglotError:
            return False
    tables = [t for t in tree.find_all(exp.Table) if not isinstance(t.this, exp.Func)]
    for table in tables:
        if table.db.lower() in CATALOG_SCHEMAS or (not table.db and table.name.lower().startswith("pg_")):
            return True
    # a query of no relation at all reads no data (SELECT 1, SELECT version()): the catalog database answers
    return not any(True for _ in tree.find_all(exp.Table))


def _pg_operators(text: str) -> str:
    """psql writes ``OPERATOR(pg_catalog.~)``; the plain operator means the same."""
    return re.sub(r"OPERATOR\(pg_catalog\.([^)]+)\)", r"\1", text)


# --- data queries ---------------------------------------------------------------------------------------


def bind_parameters(text: str, values: Sequence[Any]) -> str:
    """The query with each ``$n`` replaced by the literal of ``values[n-1]`` and ports named by address."""
    if not values and "." not in text:
        return text
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except SqlglotError:
        return text  # the gateway parses it again and reports the error

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder | exp.Parameter) and str(node.this).isdigit():
            index = int(str(node.this)) - 1
            if not 0 <= index < len(values):
                raise ValueError(f"there is no parameter ${index + 1}")
            return literal(values[index])
        if isinstance(node, exp.Table) and not node.catalog and node.db and "." in node.name:
            product, _, port = node.name.partition(".")
            copy = node.copy()
            copy.set("catalog", exp.to_identifier(node.db))
            copy.set("db", exp.to_identifier(product))
            copy.set("this", exp.to_identifier(port))
            return copy
        return node

    changed = tree.transform(replace)
    if not values and changed == tree:
        return text
    return render(changed)


def literal(value: Any) -> exp.Expr:
    """A SQL literal of a parameter value, typed where PostgreSQL's type said what it is."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(value)
    if isinstance(value, dt.datetime):
        kind = "TIMESTAMPTZ" if value.tzinfo else "TIMESTAMP"
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), kind)
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))
