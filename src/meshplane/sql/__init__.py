"""sqlglot helpers: parse consumer SQL, guard it to one read-only statement, find its port references.

Everything here is pure (no engine, no I/O): SQL goes in as text and comes out as sqlglot trees.
"""

from meshplane.sql.guard import (
    ALLOWED_TABLE_FUNCTIONS,
    DENIED_FUNCTION_PREFIXES,
    DENIED_FUNCTION_SUFFIXES,
    DENIED_FUNCTIONS,
    guard_query,
    guard_row_filter,
)
from meshplane.sql.parse import DIALECT, caret, parse_expression, parse_query, render
from meshplane.sql.refs import PortRef, TableRef, find_port_refs
from meshplane.sql.relations import bind_relations

__all__ = [
    "ALLOWED_TABLE_FUNCTIONS",
    "DENIED_FUNCTIONS",
    "DENIED_FUNCTION_PREFIXES",
    "DENIED_FUNCTION_SUFFIXES",
    "DIALECT",
    "PortRef",
    "TableRef",
    "bind_relations",
    "caret",
    "find_port_refs",
    "guard_query",
    "guard_row_filter",
    "parse_expression",
    "parse_query",
    "render",
]
