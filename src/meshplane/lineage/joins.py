"""Join keys of SQL transforms: which input columns each product joins on (for the glossary's "joined on").

A join key is an equality in a JOIN's ON condition between columns of two different input relations, each
traced to the upstream port (or source) it reads. CTEs and subqueries are followed through ``sqlglot``'s
scopes; a column that is computed (not a plain column of an input) is left out. Python transforms have none.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from meshplane.graph import MeshGraph
from meshplane.lineage.columns import _inputs, _type
from meshplane.spec import OutputPortSpec, ProductSpec
from meshplane.sql import DIALECT, parse_query

__all__ = ["JoinKey", "join_keys"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, order=True)
class JoinKey:
    """``port`` (a product's output port) is computed by joining ``left_port.left_column`` with
    ``right_port.right_column`` (input ports or source ids; the pair in sorted order)."""

    port: str
    left_port: str
    left_column: str
    right_port: str
    right_column: str


def _origin(column: exp.Column, scope: Scope, inputs: dict[str, str]) -> tuple[str, str] | None:
    """The (input port, column) a plain column reads, following CTEs and subqueries; None if computed."""
    for _ in range(32):  # bounded: a pathological query must not loop
        found = scope.sources.get(column.table)
        if isinstance(found, exp.Table):
            upstream = inputs.get(found.name)
            return (upstream, column.name) if upstream is not None else None
        if not isinstance(found, Scope) or not isinstance(found.expression, exp.Select):
            return None
        picked = next((s for s in found.expression.selects if s.alias_or_name == column.name), None)
        inner = picked.unalias() if picked is not None else None
        if not isinstance(inner, exp.Column):
            return None
        column, scope = inner, found
    return None


_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)


def _port_join_keys(product: ProductSpec, port: OutputPortSpec, graph: MeshGraph) -> list[JoinKey]:
    if not _JOIN.search(port.transform.code):  # no JOIN ... ON, no key: skip parsing and qualifying
        return []
    bound = _inputs(graph, product)
    inputs = {name: upstream for name, (upstream, _) in bound.items()}
    schema = {name: {c.name: _type(c) for c in columns} for name, (_, columns) in bound.items()}
    address = f"{product.address}.{port.name}"
    try:
        tree = qualify(parse_query(port.transform.code), schema=dict(schema), dialect=DIALECT,
                       validate_qualify_columns=False, identify=False)  # fmt: skip
        keys: set[JoinKey] = set()
        for scope in traverse_scope(tree):
            for join in scope.expression.args.get("joins") or ():
                condition = join.args.get("on")
                for equality in condition.find_all(exp.EQ) if condition is not None else ():
                    left, right = equality.this, equality.expression
                    if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                        continue
                    a, b = _origin(left, scope, inputs), _origin(right, scope, inputs)
                    if a is not None and b is not None and a[0] != b[0]:
                        (lp, lc), (rp, rc) = sorted((a, b))
                        keys.add(JoinKey(address, lp, lc, rp, rc))
    except (SqlglotError, ValueError, KeyError, AttributeError) as error:  # analysis is best effort
        log.debug("no join keys for %s: %s", address, error)
        return []
    return sorted(keys)


def join_keys(graph: MeshGraph) -> list[JoinKey]:
    """Every join key of every SQL transform in the mesh, sorted."""
    keys: list[JoinKey] = []
    for address in graph.order:
        product = graph.products[address]
        for port in product.output_ports:
            if port.transform.language == "sql":
                keys.extend(_port_join_keys(product, port, graph))
    return sorted(keys)
