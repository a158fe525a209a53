"""Which files of a Parquet source an increment's transform cannot read a row from, so its run never opens them.

With the increment's bounds inlined, a daily append's transform filters its source with a constant (``WHERE
started_at_utc > CAST('…' AS TIMESTAMP)``). DuckDB skips the row groups before it, but still opens and parses the
footer of every file of the source: a year of daily files is a year of footers on every daily build. A file
whose footer statistics say every row fails that filter contributes no row, so it is left out of the source's
file list before the sandboxed run.

Only where that is exact: the source is read in one place (one reference, no CTE of its name), by a SELECT
without joins whose WHERE has, as one of its ANDed terms, ``column > constant`` (or ``>=``, either side; ORed with
terms that are constantly false, as ``NULL-literal IS NULL`` once the bounds are inlined); the source is plain
Parquet (no reader options, which could change its columns); the column's statistics are exact
(:func:`meshplane.storage.footers.column_range`); and the first remaining file has the first file's schema
(DuckDB takes a multi-file read's columns from its first file). Rows the WHERE drops never reach a window,
GROUP BY or QUALIFY, so the transform's result is the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlglot import exp

from meshplane.engines.base import FileRelation, Relation
from meshplane.storage.footers import column_range, same_schema

__all__ = ["LowerBound", "constant", "lower_bounds", "prune_sources"]


@dataclass(frozen=True)
class LowerBound:
    """``column > value`` (``inclusive``: ``>=``): a row of the source passes the transform's filter only then."""

    column: str
    value: Any  # int, date or datetime: compared with the footer's values of the same type
    inclusive: bool

    def may_pass(self, path: Path | str) -> bool:
        """Whether the file can hold a row that passes (True whenever its footer cannot say)."""
        found = column_range(path, self.column)
        if found is None:
            return True
        if found.high is None:
            return False  # only nulls: no comparison holds
        try:
            return bool(found.high >= self.value if self.inclusive else found.high > self.value)
        except TypeError:  # another type than the constant (date vs timestamp, naive vs zoned): DuckDB casts
            return True


def prune_sources(tree: exp.Expr, inputs: Mapping[str, Relation]) -> dict[str, Relation]:
    """``inputs`` with each plain Parquet source relation reduced to the files that can hold a row its one
    reading SELECT in ``tree`` (the transform, bounds inlined) keeps (see the module's docstring for when that
    is exact); other inputs as they are."""
    pruned = dict(inputs)
    candidates = {
        name: relation
        for name, relation in inputs.items()
        if isinstance(relation, FileRelation)
        and relation.format == "parquet"
        and not relation.options
        and len(relation.paths) > 1
    }
    if not candidates:
        return pruned
    shadowed = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for name, relation in candidates.items():
        if name.lower() in shadowed:
            continue
        references = [t for t in tree.find_all(exp.Table) if t.name.lower() == name.lower() and not t.db]
        if len(references) != 1:
            continue
        first = relation.paths[0]
        bounds = [b for b in lower_bounds(references[0]) if column_range(first, b.column) is not None]
        if not bounds:
            continue
        kept = [path for path in relation.paths if all(bound.may_pass(path) for bound in bounds)]
        if len(kept) == len(relation.paths):
            continue
        kept = kept or [relation.paths[-1]]  # no row passes: one file keeps the columns, its rows fail the filter
        if not same_schema(first, kept[0]):
            continue
        pruned[name] = dataclasses.replace(relation, paths=tuple(kept))
    return pruned


def lower_bounds(table: exp.Table) -> list[LowerBound]:
    """The constant lower bounds the WHERE of the SELECT reading ``table`` (and nothing else) puts on its columns."""
    source = table.parent
    select = source.parent if isinstance(source, exp.From) else None
    if not isinstance(select, exp.Select) or select.args.get("joins") or select.args.get("where") is None:
        return []
    names = {"", table.name.lower(), table.alias_or_name.lower()}
    bounds = []
    for term in _operands(select.args["where"].this, exp.And):
        live = [d for d in _operands(term, exp.Or) if not _constantly_false(d)]
        if len(live) == 1:
            bound = _bound(live[0], names)
            if bound is not None:
                bounds.append(bound)
    return bounds


def _operands(node: exp.Expr, connector: type[exp.Connector]) -> Iterator[exp.Expr]:
    """The terms ``connector`` (AND, OR) joins in ``node``, through parentheses at any depth."""
    node = node.unnest()
    if isinstance(node, connector):
        yield from _operands(node.this, connector)
        yield from _operands(node.expression, connector)
    else:
        yield node


def _constantly_false(node: exp.Expr) -> bool:
    """``FALSE``, or ``<non-null constant> IS NULL`` (what an inlined bound's ``start IS NULL`` becomes)."""
    if isinstance(node, exp.Boolean):
        return not node.this
    return isinstance(node, exp.Is) and isinstance(node.expression, exp.Null) and constant(node.this) is not None


def _bound(node: exp.Expr, names: set[str]) -> LowerBound | None:
    flipped: dict[type[exp.Expr], type[exp.Expr]] = {exp.LT: exp.GT, exp.LTE: exp.GTE}
    kind: type[exp.Expr] = type(node)
    if kind not in (exp.GT, exp.GTE, exp.LT, exp.LTE):
        return None
    column, other = node.this.unnest(), node.expression.unnest()
    if kind in flipped:  # K < column is column > K
        column, other, kind = other, column, flipped[kind]
    if not isinstance(column, exp.Column) or column.table.lower() not in names:
        return None
    value = constant(other)
    if value is None:
        return None
    return LowerBound(column.name, value, inclusive=kind is exp.GTE)


def constant(node: exp.Expr) -> Any | None:
    """An integer literal, or a string literal cast to DATE, TIMESTAMP or TIMESTAMPTZ, as a Python value."""
    node = node.unnest()
    if isinstance(node, exp.Neg):
        inner = constant(node.this)
        return -inner if isinstance(inner, int) else None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(node.this)
        except ValueError:
            return None  # decimals and floats: not compared here
    if not isinstance(node, exp.Cast) or not isinstance(node.this, exp.Literal) or not node.this.is_string:
        return None
    text, target = node.this.this, node.to.this
    try:
        if target is exp.DataType.Type.DATE:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    naive = (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ)  # DuckDB's TIMESTAMP parses as the latter
    if target in naive and moment.tzinfo is None:
        return moment
    if target is exp.DataType.Type.TIMESTAMPTZ and moment.tzinfo is not None:
        return moment
    return None
