"""Classification flows downstream: which published columns carry values of PII or restricted columns.

:func:`classified_upstream` follows each SQL output port's column lineage to its inputs (upstream ports and
sources) and reports, per published column, the strongest sensitive classification (``pii``,
``restricted``) among the input columns whose *values* flow into it. A value does not flow through an
aggregate that only counts (``count(DISTINCT patient_id)`` is a number of patients, not a patient id), a
comparison (``patient_id IS NOT NULL``, a CASE condition, a FILTER) or a window's PARTITION BY / ORDER BY,
so those paths are left out. The governance layer's ``classification-flows-downstream`` policy then asks the
column to carry at least that classification and a mask. Python transforms have no column lineage and are
not covered (their contracts must be classified by hand).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope

from meshplane.graph import MeshGraph
from meshplane.lineage.columns import _inputs, _leaf_column, _type, positional
from meshplane.spec import ProductSpec
from meshplane.spec.models import CLASSIFICATION_LEVELS
from meshplane.sql import DIALECT, parse_query

__all__ = ["SENSITIVE", "classified_upstream"]

log = logging.getLogger(__name__)

SENSITIVE = ("pii", "restricted")
_RANK = {name: index for index, name in enumerate(CLASSIFICATION_LEVELS)}
_COUNTING = (exp.Count, exp.ApproxDistinct, exp.CountIf)


def _carries(ref: exp.Column, root: exp.Expr) -> bool:
    """Whether ``ref``'s value reaches the result of ``root``: not when it is only counted, compared (a
    predicate, a CASE condition, a FILTER), or used to partition or order a window."""
    child: exp.Expr = ref
    node = ref.parent
    while node is not None and child is not root:
        if isinstance(node, (*_COUNTING, exp.Predicate, exp.Where)):
            return False
        if isinstance(node, exp.Window) and child is not node.this:
            return False
        child, node = node, node.parent
    return True


def _only_counted(expression: exp.Expr | None, column: str) -> bool:
    """Whether no reference to ``column`` in ``expression`` carries its value into the result."""
    if expression is None:
        return False
    refs = [c for c in expression.find_all(exp.Column) if c.name == column]
    return bool(refs) and not any(_carries(ref, expression) for ref in refs)


def _flowing_leaves(node: Node, counted: bool = False) -> Iterator[Node]:
    if not node.downstream:
        if not counted and isinstance(node.source, exp.Table):
            yield node
        return
    for child in node.downstream:
        yield from _flowing_leaves(child, counted or _only_counted(node.expression, _column_of(child)))


def _column_of(node: Node) -> str:
    """The column a lineage node stands for (set operations name their branches by position)."""
    if isinstance(node.expression, exp.Table):
        return _leaf_column(node)
    return node.expression.alias_or_name or _leaf_column(node)


def _product_flows(graph: MeshGraph, product: ProductSpec) -> Iterator[tuple[str, str, str, str]]:
    """(downstream port, downstream column, input id, input column) for each value that flows."""
    inputs = _inputs(graph, product)
    schema = {name: {c.name: _type(c) for c in columns} for name, (_, columns) in inputs.items()}
    for port in product.output_ports:
        if port.transform.language != "sql":
            continue
        downstream = f"{product.address}.{port.name}"
        try:
            tree = qualify(parse_query(port.transform.code), schema=dict(schema), dialect=DIALECT,
                           validate_qualify_columns=False, identify=False)  # fmt: skip
            tree = positional(tree)
            scope = build_scope(tree)
            if scope is None or not isinstance(tree, exp.Query):
                continue
            for select in tree.selects:
                name = select.alias_or_name
                root = lineage(name, tree, schema=schema, dialect=DIALECT, scope=scope, copy=False)
                for leaf in _flowing_leaves(root):
                    relation = leaf.source.name
                    if relation in inputs:
                        yield downstream, name, inputs[relation][0], _leaf_column(leaf)
        except (SqlglotError, ValueError, KeyError) as error:  # a transform the analysis cannot follow
            log.debug("no classification flow for %s: %s", downstream, error)
        except Exception as error:  # sqlglot raises bare errors on rare constructs; the column stays unchecked
            log.debug("no classification flow for %s: %s", downstream, error)


def classified_upstream(graph: MeshGraph) -> dict[str, tuple[str, tuple[str, ...]]]:
    """``domain.product.port.column`` -> (strongest sensitive classification, the input columns it comes from).

    Only products reading a sensitive column are analysed."""
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for product in graph.products.values():
        inputs = _inputs(graph, product)
        sensitive = {
            (source, column.name): column.classification
            for source, columns in inputs.values()
            for column in columns
            if column.classification in SENSITIVE
        }
        if not sensitive:
            continue
        for downstream, name, source, column in _product_flows(graph, product):
            level = sensitive.get((source, column))
            if level is None:
                continue
            key = f"{downstream}.{name}"
            previous = found.get(key)
            origin = f"{source}.{column}"
            if previous is None:
                found[key] = (level, (origin,))
            else:
                strongest = level if _RANK[level] > _RANK[previous[0]] else previous[0]
                found[key] = (strongest, tuple(sorted({*previous[1], origin})))
    return found
