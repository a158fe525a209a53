"""Rewrite a guarded consumer query so that every port is read through its governed subquery.

Each port reference becomes::

    (SELECT "__mesh_raw"."id", sha256('<key>' || CAST("__mesh_raw"."email" AS TEXT)) AS "email", ...
     FROM read_parquet(['/warehouse/.../00000.parquet', ...]) AS "__mesh_raw"
     WHERE <row filter over raw values>) AS "<alias>"

so the relation itself carries only granted columns with masks applied, and every clause of the consumer's
query (WHERE, JOIN, GROUP BY, ``*``, ``COLUMNS(*)``, whole-row references, PIVOT, UNNEST) sees masked values
only. ``read_parquet`` is emitted here, after the guard, so consumers cannot call it themselves; a last
check walks the finished tree and refuses any relation the rewrite did not produce itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

from sqlglot import exp

from meshplane.access.masks import has_map, has_struct, mask_column
from meshplane.access.query_ports import MaskKind, PortResolver, ReadablePort
from meshplane.errors import AccessDenied, MeshError, QueryRejected
from meshplane.sql import (
    ALLOWED_TABLE_FUNCTIONS,
    PortRef,
    TableRef,
    find_port_refs,
    guard_query,
    guard_row_filter,
    parse_expression,
    parse_query,
    render,
)
from meshplane.sql.guard import function_names

__all__ = ["RAW_ALIAS", "RewrittenQuery", "port_relation", "rewrite_query"]

RAW_ALIAS = "__mesh_raw"
_NO_LIMIT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class RewrittenQuery:
    """The SQL to run, the ports it reads (in order of first reference) and the files it may open."""

    sql: str
    refs: tuple[PortRef, ...]
    ports: tuple[ReadablePort, ...]
    files: tuple[str, ...]


def rewrite_query(query: str | exp.Expr, resolve: PortResolver, *, consumer_key: str) -> RewrittenQuery:
    """Parse, guard, resolve and rewrite ``query``; raises QueryRejected or AccessDenied, never runs it.

    A tree passed in is rewritten in place (pass a copy to keep it).
    """
    tree = parse_query(query) if isinstance(query, str) else query
    guard_query(tree)
    tables = find_port_refs(tree)
    if not tables:
        raise QueryRejected("the query reads no port; name at least one port by address")
    prefetch = getattr(resolve, "prefetch", None)
    if prefetch is not None:  # one catalog round trip for every port of the query (an optimisation only)
        with contextlib.suppress(Exception):  # each resolve call then reads what it needs, failing closed
            prefetch([table.ref for table in tables])
    resolved: dict[PortRef, ReadablePort] = {}
    for table in tables:
        if table.ref not in resolved:
            resolved[table.ref] = _resolve(resolve, table.ref)
    unaliased = {
        tuple(table.ref.address.split(".")): table.default_alias
        for table in tables
        if table.node.args.get("alias") is None and table.ref.version is None
    }
    if unaliased:
        _requalify_columns(tree, unaliased)
    _check_relations(tree, {id(table.node) for table in tables})
    relations: dict[PortRef, exp.Select] = {}
    read: list[str] = []
    for table in tables:
        port = _pruned(table, resolved[table.ref], resolve)
        if port is not resolved[table.ref]:
            relation = port_relation(port, consumer_key)
        elif table.ref in relations:
            relation = relations[table.ref].copy()
        else:
            relation = relations[table.ref] = port_relation(port, consumer_key)
        read.extend(port.files)
        _replace(table, relation)
    if any(table.node.parent is not None for table in tables):  # pragma: no cover - defensive
        raise QueryRejected("the gateway could not govern every port reference")
    ports = tuple(resolved.values())
    return RewrittenQuery(render(tree), tuple(resolved), ports, tuple(dict.fromkeys(read)))


def _pruned(table: TableRef, port: ReadablePort, resolve: PortResolver) -> ReadablePort:
    """``port`` reading only the files that may hold rows the query's WHERE keeps for this reference (partition
    pruning, :mod:`meshplane.access.pruning`), when the resolver can prune; else ``port`` itself. Only files
    ``port`` lists are ever kept."""
    prune = getattr(resolve, "prune", None)
    if prune is None or not port.files:
        return port
    from meshplane.access.pruning import predicates_for

    predicates = predicates_for(table, port)
    if not predicates:
        return port
    try:
        kept = prune(port, predicates)
    except Exception:  # pruning is an optimisation: reading every file is always correct
        return port
    if kept is None:
        return port
    keep = set(kept)
    return dataclasses.replace(port, files=tuple(path for path in port.files if path in keep))


def _resolve(resolve: PortResolver, ref: PortRef) -> ReadablePort:
    try:
        port = resolve(ref)
    except MeshError:
        raise
    except Exception:
        raise AccessDenied(f"could not decide access to {ref.address}; access is denied") from None
    if not isinstance(port, ReadablePort):
        raise AccessDenied(f"could not decide access to {ref.address}; access is denied")
    dots = ref.address.count(".")
    expected = ref.address if dots == 2 else ref.address + "."
    if dots == 3:  # domain.product.port.table: the port's first table, or its table port <port>__<table>
        domain_product_port, table = ref.address.rsplit(".", 1)
        allowed = port.address in (domain_product_port, f"{domain_product_port}__{table}")
    else:
        allowed = port.address == expected or (expected.endswith(".") and port.address.startswith(expected))
    if not allowed:
        raise AccessDenied(f"the resolver answered {port.address} for {ref.address}; access is denied")
    if ref.version is not None and port.version.split(".")[0] != ref.version.removeprefix("v"):
        raise AccessDenied(f"{ref.address} has no readable version {ref.version}")
    if ref.as_of_snapshot is not None and port.snapshot_id != ref.as_of_snapshot:
        raise AccessDenied(f"{ref.address} has no readable snapshot {ref.as_of_snapshot}")
    if ref.as_of_timestamp is not None and port.snapshot_id is None:
        raise AccessDenied(f"{ref.address} has no snapshot at {ref.as_of_timestamp.isoformat()}")
    return port


def port_relation(port: ReadablePort, consumer_key: str) -> exp.Select:
    """The governed SELECT over ``port``: granted columns, masks, and the row filter on raw values."""
    columns = port.visible_columns()
    if not columns:
        raise AccessDenied(f"no column of {port.address} is granted")
    projections: list[exp.Expr] = []
    nested = _nested_masks(port) if any("." in name for name in port.masks) else {}
    for column in columns:
        raw = exp.column(column.name, table=RAW_ALIAS, quoted=True)
        name = column.name.lower()
        kind, below = port.masks.get(name), nested.get(name, {})
        maps = None
        if port.map_keys is not None:  # a non-owner's MAPs: the declared keys of each, relative to this column
            maps = {"" if path == name else path[len(name) + 1 :]: keys for path, keys in port.map_keys.items()
                    if path == name or path.startswith(name + ".")}  # fmt: skip
        if kind is None and not below and not has_struct(column.type) and (maps is None or not has_map(column.type)):
            value: exp.Expr = raw
        else:  # masks, STRUCTs (in LISTs too) rebuilt from their declared fields only, MAPs from declared keys
            value = mask_column(raw, column.type, kind, below, consumer_key, maps)
        projections.append(exp.alias_(value, column.name, quoted=True, copy=False))
    select = exp.Select(expressions=projections)
    if port.files:
        files = exp.Array(expressions=[exp.Literal.string(path) for path in port.files])
        source: exp.Expr = exp.Table(
            this=exp.Anonymous(this="read_parquet", expressions=[files]),
            alias=exp.TableAlias(this=exp.to_identifier(RAW_ALIAS, quoted=True)),
        )
        select.set("from_", exp.From(this=source))
        condition = _row_filter(port)
        if condition is not None:
            select.set("where", exp.Where(this=condition))
            # an optimiser barrier: the consumer's predicates (which may fail on chosen values) are not
            # pushed below the owner's row filter, so filtered rows cannot answer error-based probes
            select.set("limit", exp.Limit(expression=exp.Literal.number(_NO_LIMIT)))
    else:  # an empty snapshot: typed columns, no rows
        select = exp.Select(
            expressions=[
                exp.alias_(
                    exp.Cast(this=exp.Null(), to=exp.DataType.build(c.type, dialect="duckdb")), c.name, quoted=True
                )
                for c in columns
            ],
            where=exp.Where(this=exp.false()),
        )
    return select


def _nested_masks(port: ReadablePort) -> dict[str, dict[str, MaskKind]]:
    """Column -> {field path below it -> mask} from the port's dotted mask names (``profile.email``; a field
    of the elements of a LIST of STRUCT is named the same way, ``sessions.email``)."""
    found: dict[str, dict[str, MaskKind]] = {}
    for name, kind in port.masks.items():
        column, dot, path = name.lower().partition(".")
        if dot and path:
            found.setdefault(column, {})[path] = kind
    return found


def _row_filter(port: ReadablePort) -> exp.Expr | None:
    if port.row_filter is None:
        return None
    if not port.row_filter.strip():
        raise AccessDenied(f"the row filter of {port.address} is empty; access is denied")
    try:
        condition = parse_expression(port.row_filter)
        guard_row_filter(condition, [column.name for column in port.columns])
    except QueryRejected as error:
        raise AccessDenied(f"the row filter of {port.address} is invalid ({error}); access is denied") from None
    for column in condition.find_all(exp.Column):
        column.set("table", exp.to_identifier(RAW_ALIAS, quoted=True))
    # IS TRUE: a NULL outcome drops the row, and the owner's expression stays one parenthesised unit
    return exp.Is(this=exp.Paren(this=condition), expression=exp.true())


def _replace(table: TableRef, relation: exp.Select) -> None:
    node = table.node
    alias = node.args.get("alias")
    if alias is None:
        alias = exp.TableAlias(this=exp.to_identifier(table.default_alias, quoted=True))
    subquery = exp.Subquery(this=relation, alias=alias.copy())
    for key in ("pivots", "sample"):
        if node.args.get(key):
            subquery.set(key, node.args[key])
    node.replace(subquery)


def _requalify_columns(tree: exp.Expr, unaliased: dict[tuple[str, ...], str]) -> None:
    """``domain.product.port.column`` becomes ``port.column`` once the port is a subquery named ``port``."""
    for column in tree.find_all(exp.Column):
        if not column.args.get("db"):
            continue
        qualifier = tuple(part.lower() for part in (column.catalog, column.db, column.table) if part)
        alias = unaliased.get(qualifier)
        if alias is not None:
            column.set("catalog", None)
            column.set("db", None)
            column.set("table", exp.to_identifier(alias, quoted=True))


def _check_relations(tree: exp.Expr, port_nodes: set[int]) -> None:
    """Fail closed: every relation is a port reference, a CTE, or an allowlisted table function.

    Runs on the consumer's tree before the governed subqueries go in, so it also proves that no
    file-reading function is left for them to share the tree with.
    """
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for node in tree.find_all(exp.Table):
        if id(node) in port_nodes:
            continue
        if isinstance(node.this, exp.Func):
            if function_names(node.this) & ALLOWED_TABLE_FUNCTIONS:
                continue
        elif len(node.parts) == 1 and node.name.lower() in ctes:
            continue
        raise QueryRejected("the query names a relation the gateway cannot govern")
    for func in tree.find_all(exp.Anonymous, exp.ReadParquet, exp.ReadCSV):
        if func.name.lower().startswith("read_") or isinstance(func, exp.ReadParquet | exp.ReadCSV):
            raise QueryRejected("the query calls a file-reading function")
