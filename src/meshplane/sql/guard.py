"""The read-only guard: which sqlglot trees a consumer may send to the query gateway.

A consumer query must be exactly one read-only statement (SELECT, set operations, CTEs, VALUES, PIVOT) whose
only relations are port addresses, its own CTEs, VALUES lists and the allowlisted table functions
(:data:`ALLOWED_TABLE_FUNCTIONS`). Scalar functions are free except a denylist of functions that read files,
settings, variables, the query text, statistics or catalog metadata, or that run SQL held in a string
(:data:`DENIED_FUNCTIONS`, :data:`DENIED_FUNCTION_PREFIXES`, :data:`DENIED_FUNCTION_SUFFIXES`).

Row filters written by port owners pass :func:`guard_row_filter`: the same function rules, no subqueries,
aggregates or windows, and only the port's own unqualified columns.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlglot import exp

from meshplane.errors import QueryRejected

__all__ = [
    "ALLOWED_TABLE_FUNCTIONS",
    "DENIED_FUNCTIONS",
    "DENIED_FUNCTION_PREFIXES",
    "DENIED_FUNCTION_SUFFIXES",
    "MAX_NODES",
    "function_names",
    "guard_query",
    "guard_row_filter",
]

MAX_NODES = 20_000
"""Trees with more nodes are refused (resource exhaustion in parse, rewrite and planning)."""

ALLOWED_TABLE_FUNCTIONS = frozenset({"unnest", "range", "generate_series"})

DENIED_FUNCTIONS = frozenset(
    {
        "getenv",
        "current_setting",
        "getvariable",
        "current_query",
        "current_query_id",
        "stats",
        "query",
        "query_table",
        "glob",
        "sniff_csv",
        "which_secret",
        "summary",
        "checkpoint",
        "force_checkpoint",
        "json_execute_serialized_sql",
        "json_serialize_sql",
        "json_deserialize_sql",
        "version",
        "platform",
        "user_agent",
        "current_database",
        "current_catalog",
        "current_schema",
        "current_schemas",
        "current_role",
        "current_user",
        "session_user",
        "user",
        "in_search_path",
        "current_connection_id",
        "current_transaction_id",
        "txid_current",
        "pg_conf_load_time",
        "nextval",
        "currval",
        "error",
        "repeat_row",
        "icu_calendar_names",
        "pg_timezone_names",
        "truncate_duckdb_logs",
        "seq_scan",
        "enum_range",
        "enum_range_boundary",
        "enum_first",
        "enum_last",
        "enum_code",
        "has_database_privilege",
        "has_schema_privilege",
        "has_sequence_privilege",
        "has_table_privilege",
        "has_tablespace_privilege",
        "has_any_column_privilege",
        "has_column_privilege",
        "has_function_privilege",
        "pg_table_is_visible",
        "pg_is_other_temp_schema",
        "pg_my_temp_schema",
        "histogram_values",
    }
)
DENIED_FUNCTION_PREFIXES = (
    "read_",
    "parquet_",
    "duckdb_",
    "pragma_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "iceberg_",
    "delta_",
    "arrow_",
    "pandas_",
    "python_",
    "enable_",
    "disable_",
    "test_",
    "load_",
    "install_",
    "http_",
    "s3_",
    "json_execute",
    "excel_",
    "ducklake_",
    "icu_",
)
DENIED_FUNCTION_SUFFIXES = ("_scan", "_metadata", "_schema", "_secrets", "_settings")

_DENIED_NODE_NAMES = (
    "DDL",
    "DML",
    "Command",
    "Copy",
    "Set",
    "Pragma",
    "Use",
    "Attach",
    "Detach",
    "Describe",
    "Summarize",
    "Show",
    "Transaction",
    "Commit",
    "Rollback",
    "Install",
    "Export",
    "Placeholder",
    "Parameter",
    "SessionParameter",
    "Into",
    "Create",
    "Drop",
    "Alter",
    "Insert",
    "Update",
    "Delete",
    "Merge",
    "Kill",
    "Analyze",
    "Refresh",
    "Cache",
    "Uncache",
    "LoadData",
    "Grant",
    "Revoke",
    "Comment",
    "Declare",
    "TruncateTable",
    "Execute",
    "UserDefinedFunction",
    "TableFromRows",
    "Changes",
)
_DENIED_NODES: tuple[type[exp.Expr], ...] = tuple(
    node for name in _DENIED_NODE_NAMES if isinstance(node := getattr(exp, name, None), type)
)
_ROOTS: tuple[type[exp.Expr], ...] = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values, exp.Pivot)


def function_names(node: exp.Func) -> frozenset[str]:
    """Every lower-case name DuckDB may know ``node`` by."""
    if isinstance(node, exp.Anonymous):
        return frozenset({node.name.lower()})
    names = {name.lower() for name in type(node).sql_names()}
    names.add(type(node).key.lower())
    return frozenset(names)


def _denied_name(names: frozenset[str]) -> str | None:
    for name in sorted(names):
        if (
            name in DENIED_FUNCTIONS
            or name.startswith(DENIED_FUNCTION_PREFIXES)
            or name.endswith(DENIED_FUNCTION_SUFFIXES)
        ):
            return name
    return None


def guard_query(tree: exp.Expr) -> None:
    """Raise QueryRejected unless ``tree`` is one read-only query that only calls permitted functions."""
    if not isinstance(tree, _ROOTS):
        raise QueryRejected(
            f"only read-only queries are allowed (SELECT, set operations, CTEs); got {type(tree).__name__}"
        )
    for count, node in enumerate(tree.walk(), start=1):
        if count > MAX_NODES:
            raise QueryRejected(f"the query is too large (more than {MAX_NODES} syntax nodes)")
        _check_node(node)


def _check_node(node: exp.Expr) -> None:
    if isinstance(node, _DENIED_NODES):
        raise QueryRejected(f"{_describe_node(node)} is not allowed in a query; only reads are")
    if isinstance(node, exp.HistoricalData | exp.Version) and not isinstance(node.parent, exp.Table):
        raise QueryRejected("time travel (AT / FOR ... AS OF) applies to a port reference only")
    if isinstance(node, exp.Func):
        _check_function(node)
    elif isinstance(node, exp.Table) and isinstance(node.this, exp.Literal):
        raise QueryRejected("a string literal cannot be used as a table; name ports by address")


def _check_function(node: exp.Func) -> None:
    names = function_names(node)
    denied = _denied_name(names)
    if denied is not None:
        raise QueryRejected(
            f"function {denied}() is not allowed: the gateway refuses functions that read files, "
            "settings, statistics or metadata, or run SQL from strings"
        )
    parent = node.parent
    in_table_position = (isinstance(parent, exp.Table) and parent.this is node) or (
        isinstance(parent, exp.Lateral) and parent.this is node
    )
    if in_table_position and not names & ALLOWED_TABLE_FUNCTIONS:
        shown = node.name.lower() if isinstance(node, exp.Anonymous) else sorted(names)[0]
        raise QueryRejected(
            f"table function {shown}() is not allowed; only "
            f"{', '.join(sorted(ALLOWED_TABLE_FUNCTIONS))} may be used in FROM, besides port addresses"
        )


def guard_row_filter(tree: exp.Expr, columns: Collection[str]) -> None:
    """Raise QueryRejected unless ``tree`` is a plain predicate over the unqualified ``columns``."""
    allowed = {column.lower() for column in columns}
    if isinstance(tree, exp.Query | exp.Subquery | exp.Table):
        raise QueryRejected("a row filter must be a boolean expression, not a query")
    for count, node in enumerate(tree.walk(), start=1):
        if count > MAX_NODES:
            raise QueryRejected("the row filter is too large")
        _check_node(node)
        if isinstance(node, exp.Query | exp.Subquery | exp.Table | exp.From | exp.Join | exp.Lateral):
            raise QueryRejected("a row filter may not contain subqueries or table references")
        if isinstance(node, exp.AggFunc | exp.Window | exp.Lambda | exp.Star | exp.Columns):
            raise QueryRejected(f"a row filter may not use {_describe_node(node)}; write a predicate over single rows")
        if isinstance(node, exp.Column):
            if node.table:
                raise QueryRejected("a row filter names the port's columns without a qualifier")
            if node.name.lower() not in allowed:
                raise QueryRejected(f"the row filter references {node.name!r}, which is not a column of the port")


def _describe_node(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return f"the {str(node.this).upper()} command"
    return {
        "Placeholder": "a query parameter",
        "Parameter": "a query parameter",
        "Into": "SELECT ... INTO",
        "AggFunc": "an aggregate",
    }.get(type(node).__name__, type(node).__name__.upper())
