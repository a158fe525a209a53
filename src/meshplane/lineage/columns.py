"""Column-level lineage of SQL transforms, computed with ``sqlglot.lineage`` over qualified trees.

Each input port of a product is a relation named after the port inside its SQL; its columns come from the
upstream port's (or source's) contract, so ``*`` expands and unqualified columns resolve. Python
transforms have no column lineage (their ports still appear in product lineage).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope

from meshplane.graph import MeshGraph
from meshplane.spec import ColumnSpec, OutputPortSpec, ProductSpec
from meshplane.sql import DIALECT, parse_query
from meshplane.types import Address

__all__ = ["ColumnEdge", "column_lineage", "index_walks", "port_column_lineage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, order=True)
class ColumnEdge:
    """``downstream_port.downstream_column`` is computed from ``upstream_port.upstream_column``.

    ``upstream_port`` is an output port address or a source contract id. The field names match the
    catalog's ``ColumnLineageEdge``, so the workspace maps one onto the other field by field.
    """

    upstream_port: str
    upstream_column: str
    downstream_port: str
    downstream_column: str


def _type(column: ColumnSpec) -> str:
    return column.physical_type or {
        "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP",
    }.get(column.logical_type or "", "VARCHAR")  # fmt: skip


def _inputs(graph: MeshGraph, product: ProductSpec) -> dict[str, tuple[str, tuple[ColumnSpec, ...]]]:
    """Relation name inside the transform -> (upstream port address or source id, its columns)."""
    bound: dict[str, tuple[str, tuple[ColumnSpec, ...]]] = {}
    for edge in graph.edges.get(product.address, ()):
        if edge.upstream_port is not None and edge.upstream_port in graph.ports:
            bound[edge.input.name] = (str(edge.upstream_port), graph.ports[edge.upstream_port].contract.columns)
        elif edge.source is not None:
            bound[edge.input.name] = (edge.source.id, edge.source.columns)
    return bound


def _leaf_column(node: Node) -> str:
    return node.name.rsplit(".", 1)[-1].strip('"')


# (transform code, its inputs' ids and column types) -> (upstream, upstream column, downstream column): the
# edges depend on nothing else, and sqlglot's analysis costs milliseconds per transform.
_MEMO: dict[tuple[str, tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]], tuple[tuple[str, str, str], ...]] = {}
_MEMO_LIMIT = 100_000


def port_column_lineage(graph: MeshGraph, product: ProductSpec, port: OutputPortSpec) -> list[ColumnEdge]:
    """The column edges into one SQL output port (empty for Python transforms or unparsable SQL)."""
    if port.transform.language != "sql":
        return []
    inputs = _inputs(graph, product)
    schema: dict[str, dict[str, str]] = {
        name: {c.name: _type(c) for c in columns} for name, (_, columns) in inputs.items()
    }
    downstream = f"{product.address}.{port.name}"
    key = (
        port.transform.code,
        tuple(sorted((name, inputs[name][0], tuple(types.items())) for name, types in schema.items())),
    )
    memo = _MEMO.get(key)
    if memo is None:
        memo = tuple(
            (e.upstream_port, e.upstream_column, e.downstream_column)
            for e in _port_column_lineage(port, inputs, schema, downstream)
        )
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = memo
    return sorted(ColumnEdge(upstream, column, downstream, name) for upstream, column, name in memo)


def _port_column_lineage(
    port: OutputPortSpec,
    inputs: dict[str, tuple[str, tuple[ColumnSpec, ...]]],
    schema: dict[str, dict[str, str]],
    downstream: str,
) -> list[ColumnEdge]:
    try:
        tree = qualify(parse_query(port.transform.code), schema=dict(schema), dialect=DIALECT,
                       validate_qualify_columns=False, identify=False)  # fmt: skip
        tree = positional(tree)
        scope = build_scope(tree)
        if scope is None or not isinstance(tree, exp.Query):
            return []
        edges: set[ColumnEdge] = set()
        for select in tree.selects:
            name = select.alias_or_name
            root = lineage(name, tree, schema=schema, dialect=DIALECT, scope=scope, copy=False)
            if not isinstance(root, Node):
                continue
            for node in root.walk():
                if node.downstream or not isinstance(node.source, exp.Table):
                    continue
                relation = node.source.name
                if relation in inputs:
                    edges.add(ColumnEdge(inputs[relation][0], _leaf_column(node), downstream, name))
    except (SqlglotError, ValueError, KeyError) as error:  # a transform the analysis cannot follow
        log.debug("no column lineage for %s: %s", downstream, error)
        return []
    except Exception as error:  # sqlglot raises bare errors on rare constructs; lineage is best effort
        log.debug("no column lineage for %s: %s", downstream, error)
        return []
    return sorted(edges)


def positional(tree: exp.Expr) -> exp.Expr:
    """``UNION [ALL] BY NAME`` (DuckDB) rewritten as the positional set operation it means, so lineage, which
    pairs the sides' columns by position, pairs them by name: each side lists the union of the names (the
    left side's order, then names only the right has) and a side without a name contributes NULL."""
    for operation in reversed(list(tree.find_all(exp.SetOperation))):
        if not operation.args.get("by_name"):
            continue
        left, right = operation.left, operation.right
        names = [s.alias_or_name for s in left.selects]
        names += [n for n in (s.alias_or_name for s in right.selects) if n not in names]
        operation.set("this", _in_order(left, names))
        operation.set("expression", _in_order(right, names))
        operation.set("by_name", None)
    return tree


def _in_order(side: exp.Query, names: list[str]) -> exp.Query:
    if not isinstance(side, exp.Select):  # a nested set operation: select from it by name
        found = {s.alias_or_name for s in side.selects}
        columns: dict[str, exp.Expr] = {n: exp.alias_(exp.column(n, table="_by_name"), n) for n in found}
        side = exp.select("*").from_(side.subquery("_by_name"))
    else:
        columns = {s.alias_or_name: s for s in side.selects}
        found = set(columns)
    picked = [columns[n] if n in found else exp.alias_(exp.null(), n) for n in names]
    return side.select(*picked, append=False)


def column_lineage(graph: MeshGraph) -> list[ColumnEdge]:
    """Column edges of every SQL transform in the mesh, sorted."""
    edges: list[ColumnEdge] = []
    for address in graph.order:
        product = graph.products[address]
        for port in product.output_ports:
            edges.extend(port_column_lineage(graph, product, port))
    return sorted(edges)


_Index = tuple[dict[tuple[str, str], list[ColumnEdge]], dict[str, list[ColumnEdge]]]
_INDEXES: dict[tuple[int, bool], tuple[tuple[ColumnEdge, ...], _Index]] = {}
_INDEXES_LOCK = threading.Lock()


def _index(edges: Iterable[ColumnEdge], *, downstream: bool) -> _Index:
    """Edges by the (port, column) and the port of the end a walk arrives at. A tuple's index (a mesh's
    lineage, computed once per opened graph) is built once and kept while the tuple lives; keyed by identity."""
    key = (id(edges), downstream)
    if isinstance(edges, tuple):
        hit = _INDEXES.get(key)
        if hit is not None and hit[0] is edges:
            return hit[1]
    by_column: dict[tuple[str, str], list[ColumnEdge]] = {}
    by_port: dict[str, list[ColumnEdge]] = {}
    for edge in edges:
        near = (edge.upstream_port, edge.upstream_column) if downstream else (
            edge.downstream_port, edge.downstream_column)  # fmt: skip
        by_column.setdefault(near, []).append(edge)
        by_port.setdefault(near[0], []).append(edge)
    if isinstance(edges, tuple):
        with _INDEXES_LOCK:
            if len(_INDEXES) >= 8:
                _INDEXES.clear()
            _INDEXES[key] = (edges, (by_column, by_port))
    return by_column, by_port


def index_walks(edges: tuple[ColumnEdge, ...]) -> None:
    """Build the walk indexes of a mesh's edges now (a server at start-up), not in the first walk."""
    _index(edges, downstream=True)
    _index(edges, downstream=False)


def _walk(edges: Iterable[ColumnEdge], port: str, column: str | None, *, downstream: bool) -> Iterator[ColumnEdge]:
    """Every edge reachable from ``port`` (one column, or all of them), transitively, in one direction."""

    def far(edge: ColumnEdge) -> tuple[str, str]:  # the walk arrives at an edge's near end, leaves by this one
        return (edge.downstream_port, edge.downstream_column) if downstream else (
            edge.upstream_port, edge.upstream_column)  # fmt: skip

    by_column, by_port = _index(edges, downstream=downstream)
    frontier = list(by_port.get(port, [])) if column is None else list(by_column.get((port, column), []))
    seen: set[ColumnEdge] = set()
    while frontier:
        edge = frontier.pop()
        if edge in seen:
            continue
        seen.add(edge)
        yield edge
        frontier.extend(by_column.get(far(edge), []))


def columns_downstream(edges: Iterable[ColumnEdge], port: str, column: str | None = None) -> Iterator[ColumnEdge]:
    """Every edge reachable downstream from ``port`` (one column, or all of them), transitively."""
    return _walk(edges, port, column, downstream=True)


def columns_upstream(edges: Iterable[ColumnEdge], port: str, column: str | None = None) -> Iterator[ColumnEdge]:
    """Every edge reachable upstream from ``port`` (one column, or all of them), transitively."""
    return _walk(edges, port, column, downstream=False)


def is_port(address: str) -> bool:
    try:
        return Address.parse(address).port is not None
    except ValueError:
        return False
