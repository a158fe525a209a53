"""Which conjuncts of a consumer query's WHERE a port's data files may be pruned by (partition pruning).

A predicate is taken only when it provably holds for every row the query reads from that port reference:

* it is one of the top-level ``AND`` conjuncts of the WHERE of the very SELECT whose FROM or JOIN names the
  port (for any join kind: a comparison with a literal is false on the NULLs an outer join adds);
* it compares one column with literals (``=``, ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN``, ``IN``), the column
  qualified by the reference's alias (or unqualified when the port is the SELECT's only relation);
* the column is granted to the reader and unmasked: a masked column's predicate is about masked values, which
  say nothing about the files' raw values.

Pruning only drops files that cannot hold a matching row; the governed subquery (granted columns, masks, the row
filter) is built over the remaining files exactly as over all of them, so it never widens what is readable.
"""

from __future__ import annotations

from sqlglot import exp

from meshplane.access.query_ports import Predicate, ReadablePort
from meshplane.sql import TableRef

__all__ = ["predicates_for"]

_OPS: dict[type[exp.Expr], str] = {exp.EQ: "=", exp.LT: "<", exp.LTE: "<=", exp.GT: ">", exp.GTE: ">="}
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_SCALAR = ("BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "VARCHAR",
           "DATE", "TIMESTAMP")  # fmt: skip


def predicates_for(table: TableRef, port: ReadablePort) -> tuple[Predicate, ...]:
    """The prunable conjuncts for one port reference of a query (empty: read every file)."""
    node = table.node
    holder = node.parent
    select = holder.parent if isinstance(holder, exp.From | exp.Join) else None
    if not isinstance(select, exp.Select) or node.args.get("pivots") or node.args.get("sample"):
        return ()  # a PIVOT's or a sample's WHERE is about other rows than the port's
    if isinstance(holder, exp.From) and holder.this is not node:
        return ()
    where = select.args.get("where")
    if where is None:
        return ()
    alias = node.alias or table.default_alias
    alone = isinstance(holder, exp.From) and not select.args.get("joins") and not select.args.get("laterals")
    columns = _prunable_columns(port)
    found: list[Predicate] = []
    for conjunct in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if isinstance(conjunct, exp.Between):  # a BETWEEN b AND c: a >= b and a <= c
            low = exp.GTE(this=conjunct.this.copy(), expression=conjunct.args["low"].copy())
            high = exp.LTE(this=conjunct.this.copy(), expression=conjunct.args["high"].copy())
            parts = [_predicate(low, alias, alone, columns), _predicate(high, alias, alone, columns)]
        else:
            parts = [_predicate(conjunct, alias, alone, columns)]
        found.extend(p for p in parts if p is not None)
    return tuple(found)


def _prunable_columns(port: ReadablePort) -> dict[str, str]:
    """Lower-case name -> the column's name, for the granted, unmasked scalar columns of the port."""
    masked = {name.split(".", 1)[0] for name in port.masks}
    return {
        column.name.lower(): column.name
        for column in port.visible_columns()
        if column.name.lower() not in masked and column.type.upper().split("(", 1)[0] in _SCALAR
    }


def _predicate(conjunct: exp.Expr, alias: str, alone: bool, columns: dict[str, str]) -> Predicate | None:
    if isinstance(conjunct, exp.Paren):
        return _predicate(conjunct.this, alias, alone, columns)
    op = _OPS.get(type(conjunct))
    if op is not None:
        left, right = conjunct.this, conjunct.expression
        name, value = _column(left, alias, alone, columns), _literal(right)
        if name is None or value is None:
            name, value, op = _column(right, alias, alone, columns), _literal(left), _FLIPPED[op]
        return None if name is None or value is None else (name, op, (value,))
    if isinstance(conjunct, exp.In) and not conjunct.args.get("query") and not conjunct.args.get("unnest"):
        name = _column(conjunct.this, alias, alone, columns)
        values = [_literal(v) for v in conjunct.expressions]
        if name is None or not values or any(v is None for v in values):
            return None
        return (name, "in", tuple(values))
    return None


def _column(node: exp.Expr, alias: str, alone: bool, columns: dict[str, str]) -> str | None:
    if not isinstance(node, exp.Column) or node.args.get("db") or node.args.get("catalog"):
        return None
    qualifier = node.table
    if (qualifier and qualifier.lower() != alias.lower()) or (not qualifier and not alone):
        return None
    return columns.get(node.name.lower())


def _literal(node: exp.Expr) -> object | None:
    """A literal's value (a typed literal such as ``DATE '2026-03-02'`` as its text); None for anything else."""
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        if node.to.this in (exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME):
            return str(node.this.this)
        return None
    negative = isinstance(node, exp.Neg)
    if negative:
        node = node.this
    if not isinstance(node, exp.Literal):
        return None
    if node.is_string:
        return None if negative else str(node.this)
    text = str(node.this)
    try:
        number: object = int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return None
    return -number if negative else number  # type: ignore[operator]
