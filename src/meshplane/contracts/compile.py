"""Compile a :class:`~meshplane.contracts.plan.CheckPlan` into as few SQL scans as possible.

Every library metric and every single-column schema constraint of a table becomes one output column
of ONE aggregate ``SELECT`` over the relation (``COUNT(*) FILTER (WHERE ...)``, ``COUNT(DISTINCT
...)``); identical measurements are shared. A ``sql`` rule of the shape ``SELECT COUNT(*) FROM {object}
WHERE <condition>`` joins that scan as ``COUNT(*) FILTER (WHERE <condition>)`` (the same number), and so
do composite-key duplicates on DuckDB (``COUNT(*) - COUNT(DISTINCT (a, b))``, which counts the rows beyond
the first of each key, NULLs grouped together, like the GROUP BY query); each folded check keeps its own
query as well, for when the folded scan fails (a broken rule must fail only itself). Other ``sql`` rules,
foreign keys and composite keys on other engines get queries of their own. Failing-row samples are cheap
follow-up queries built on demand. Everything is a sqlglot tree rendered to the engine's dialect at the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from meshplane.contracts.plan import Check, CheckPlan

__all__ = [
    "AGGREGATE_METRICS",
    "DISTINCT_METRICS",
    "ROW_COUNT",
    "ROW_METRICS",
    "SCHEMA_ONLY_METRICS",
    "CompiledPlan",
    "CompiledQuery",
    "additive",
    "compile_sql",
    "relation_table",
]

ROW_COUNT = "row_count"
SCHEMA_ONLY_METRICS = frozenset({"present", "type"})
_PREDICATE_METRICS = frozenset(
    {"required", "nullValues", "missingValues", "invalidValues", "enum", "pattern", "range", "length"}
)
# Rules that hold row by row: checking an append run's new rows suffices; every other rule is about the table.
ROW_METRICS = _PREDICATE_METRICS
_DISTINCT_METRICS = frozenset({"unique", "duplicateValues", "primaryKey"})
AGGREGATE_METRICS = _PREDICATE_METRICS | _DISTINCT_METRICS | {"rowCount"}
DISTINCT_METRICS = _DISTINCT_METRICS
_PLACEHOLDERS = {
    "object": ("${object}", "{object}", "${table}", "{table}", "${model}", "{model}"),
    "property": ("${property}", "{property}", "${column}", "{column}", "${field}", "{field}"),
}
_SENTINEL = {"object": "__meshplane_object__", "property": "__meshplane_property__"}


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query of its own for one check; its first value is the check's observed value."""

    check_id: str
    sql: str


@dataclass(frozen=True, slots=True)
class CompiledPlan:
    """The SQL for one plan on one relation, in one dialect.

    ``aggregate_sql`` is the single scan; ``measures`` maps each check id it serves to the output
    column holding the check's failing-row count (``row_count`` for ``rowCount``). ``folded`` are the
    checks measured in that scan that also have a query of their own; ``unfolded_sql`` is the scan
    without them (both used only when the folded scan fails).
    """

    plan: CheckPlan
    relation: str
    dialect: str
    aggregate_sql: str
    measures: tuple[tuple[str, str], ...]
    queries: tuple[CompiledQuery, ...]
    folded: tuple[CompiledQuery, ...] = ()
    unfolded_sql: str = ""
    additive: tuple[tuple[str, str], ...] = ()
    """(output column, its measure's SQL in sqlglot's own dialect) of the scan's columns whose value over a union
    of files is the sum of their values over each file (:func:`additive`): row counts and counts of rows matching
    a row predicate."""
    only_additive: bool = False
    """Every output column of ``aggregate_sql`` is in ``additive``."""

    def measure_of(self, check_id: str) -> str | None:
        return dict(self.measures).get(check_id)

    def sample_sql(self, check: Check, limit: int = 5) -> str | None:
        """A query returning up to ``limit`` rows that fail ``check`` (None when rows cannot fail)."""
        tree = _sample(check, relation_table(self.relation, self.dialect), self.dialect)
        return None if tree is None else tree.limit(limit).sql(dialect=self.dialect)


def relation_table(relation: str, dialect: str) -> exp.Table:
    """Parse a relation name (``events``, ``db.events``, ``read_parquet('x.parquet')``) into a tree."""
    return sqlglot.parse_one(relation, into=exp.Table, dialect=dialect)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _values(values: Iterable[Any]) -> list[exp.Expr]:
    return [exp.convert(v) for v in values if v is not None]


def _regex(column: exp.Expr, pattern: str, dialect: str) -> exp.Expr:
    if dialect == "duckdb":
        return exp.RegexpFullMatch(this=column, expression=exp.Literal.string(pattern))
    # Portable full match: anchor the pattern for engines whose REGEXP/RLIKE finds substrings.
    return exp.RegexpLike(this=column, expression=exp.Literal.string(f"^(?:{pattern})$"))


def _predicate(check: Check, dialect: str, table: str | None = None) -> exp.Expr:
    """The condition under which a row fails a row-level check."""
    col = _col(check.columns[0], table)
    metric = check.metric
    if metric in ("required", "nullValues"):
        return col.is_(exp.null())
    if metric == "missingValues":
        listed = _values(check.missing_values)
        parts: list[exp.Expr] = []
        if any(v is None for v in check.missing_values):
            parts.append(col.is_(exp.null()))
        if listed:
            parts.append(col.isin(*listed))
        return exp.or_(*parts) if parts else exp.false()
    not_null = exp.not_(col.is_(exp.null()))
    if metric in ("invalidValues", "enum", "pattern"):
        if check.pattern is not None:
            return exp.and_(not_null, exp.not_(_regex(col.copy(), check.pattern, dialect)))
        return exp.and_(not_null, exp.not_(col.isin(*_values(check.valid_values))))
    if metric == "range":
        ops = {"minimum": exp.LT, "maximum": exp.GT, "exclusiveMinimum": exp.LTE, "exclusiveMaximum": exp.GTE}
        outside = [ops[k](this=col.copy(), expression=exp.convert(v)) for k, v in check.bounds]
        return exp.and_(not_null, exp.or_(*outside))
    if metric == "length":
        length = exp.Length(this=col.copy())
        ops = {"minLength": exp.LT, "maxLength": exp.GT}
        outside = [ops[k](this=length.copy(), expression=exp.convert(v)) for k, v in check.bounds]
        return exp.and_(not_null, exp.or_(*outside))
    raise ValueError(f"{check.id}: {metric} has no row predicate")


def _measure(check: Check, dialect: str) -> exp.Expr:
    """The aggregate expression measuring ``check``'s failing rows (or the row count)."""
    if check.metric == "rowCount":
        return exp.Count(this=exp.Star())
    if check.metric in _DISTINCT_METRICS:
        col = _col(check.columns[0])
        distinct = exp.Count(this=exp.Distinct(expressions=[col.copy()]))
        return exp.Sub(this=exp.Count(this=col), expression=distinct)
    return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=_predicate(check, dialect)))


def in_aggregate(check: Check) -> bool:
    """Whether ``check`` is measured by the table's single aggregate scan."""
    return check.metric in AGGREGATE_METRICS and len(check.columns) <= 1 and check.foreign_key is None


def _alias(check: Check, taken: set[str]) -> str:
    subject = "_".join(check.columns) or check.id.rsplit(".", 1)[-1]  # an object-level rule: its name
    base = "row_count" if check.metric == "rowCount" else f"{subject}__{check.metric}"
    base = re.sub(r"[^A-Za-z0-9_]", "_", base).lower()
    alias, n = base, 2
    while alias in taken:
        alias, n = f"{base}_{n}", n + 1
    taken.add(alias)
    return alias


def compile_sql(
    plan: CheckPlan,
    relation: str,
    *,
    dialect: str = "duckdb",
    only: Iterable[str] | None = None,
    extra: Sequence[tuple[str, exp.Expr]] = (),
) -> CompiledPlan:
    """Compile ``plan`` against ``relation``; ``only`` restricts to these check ids. ``extra`` adds
    (alias, aggregate) columns to the one scan (the port's profile, :mod:`meshplane.contracts.profile`)."""
    wanted = None if only is None else set(only)
    checks = [
        c
        for c in plan.checks
        if c.metric not in SCHEMA_ONLY_METRICS and c.executable and (wanted is None or c.id in wanted)
    ]
    table = relation_table(relation, dialect)
    projections: list[exp.Expr] = [exp.alias_(exp.Count(this=exp.Star()), ROW_COUNT, quoted=True)]
    by_sql: dict[str, str] = {exp.Count(this=exp.Star()).sql(): ROW_COUNT}
    taken = {ROW_COUNT}
    measures: list[tuple[str, str]] = []
    summed: list[tuple[str, str]] = [(ROW_COUNT, next(iter(by_sql)))]
    queries: list[CompiledQuery] = []
    folded: list[CompiledQuery] = []
    folded_projections: list[exp.Expr] = []
    # The trees are built here for this plan alone: rendering them needs no defensive copy (sqlglot copies a tree
    # before rendering it unless told not to; a contract's ~40 measures were copied three times over).
    for check in checks:
        expression: exp.Expr | None
        if in_aggregate(check):
            expression = _measure(check, dialect)
        else:
            separate = _separate(check, table, dialect)
            expression = _folded(check, separate, table, dialect)
            if expression is None:
                queries.append(CompiledQuery(check.id, separate.sql(dialect=dialect)))
                continue
            folded.append(CompiledQuery(check.id, separate.sql(dialect=dialect)))
        key = expression.sql(copy=False)
        if key not in by_sql:
            alias = _alias(check, taken)
            by_sql[key] = alias
            projection = exp.alias_(expression, alias, quoted=True, copy=False)
            (folded_projections if folded and folded[-1].check_id == check.id else projections).append(projection)
            if additive(expression):
                summed.append((alias, key))
        measures.append((check.id, by_sql[key]))
    for alias, expression in extra:
        if alias in taken:
            raise ValueError(f"extra aggregate {alias!r} clashes with a check's measure")
        taken.add(alias)
        projections.append(exp.alias_(expression, alias, quoted=True))
    unfolded = ""
    if folded:
        unfolded = exp.select(*projections).from_(table.copy(), copy=False).sql(dialect=dialect, pretty=True)
    aggregate = exp.select(*projections, *folded_projections).from_(table.copy(), copy=False)
    return CompiledPlan(
        plan,
        relation,
        dialect,
        aggregate.sql(dialect=dialect, pretty=True, copy=False),  # rendered last: nothing reads the tree after
        tuple(measures),
        tuple(queries),
        tuple(folded),
        unfolded,
        tuple(summed),
        len(summed) == len(aggregate.expressions),
    )


# Nodes a row predicate may hold when its count over a file is to be remembered: operators, literals and
# columns, and functions whose value depends on their arguments only (no clock, no randomness, no UDF).
_ROW_NODES: tuple[type[exp.Expr], ...] = (
    exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Not, exp.And, exp.Or, exp.Is,
    exp.In, exp.Between, exp.Like, exp.ILike, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
    exp.NullSafeNEQ, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.DPipe, exp.Tuple,
    exp.DataType, exp.DataTypeParam, exp.Var, exp.Interval, exp.Where, exp.Case, exp.If, exp.Cast, exp.TryCast,
    exp.Length, exp.Lower, exp.Upper, exp.Trim, exp.Substring, exp.RegexpLike, exp.RegexpFullMatch, exp.Coalesce,
    exp.Nullif, exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Concat, exp.Left, exp.Right, exp.Greatest, exp.Least,
    exp.StartsWith, exp.StrPosition, exp.Replace, exp.Extract,
)  # fmt: skip


def additive(measure: exp.Expr) -> bool:
    """Whether ``measure``'s value over a union of files is the sum of its values over each file: ``COUNT(*)``,
    or ``COUNT(*) FILTER (WHERE p)`` with ``p`` about the row alone (the shape a folded ``sql`` rule takes) and
    deterministic, so a file's count, once measured, holds for as long as the file is unchanged."""
    if _count_star(measure):
        return True
    if not isinstance(measure, exp.Filter) or not isinstance(measure.expression, exp.Where):
        return False
    return _count_star(measure.this) and all(type(node) in _ROW_NODES for node in measure.expression.walk())


def _count_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Count) and isinstance(node.this, exp.Star) and not node.expressions


# Clauses that keep a sql rule a plain count of the rows matching its WHERE.
_COUNT_RULE_ARGS = frozenset({"expressions", "from_", "where"})


def _folded(check: Check, separate: exp.Select, table: exp.Table, dialect: str) -> exp.Expr | None:
    """The measure of a separate check inside the aggregate scan, when it has one with the same value."""
    if check.foreign_key is not None:
        return None
    if check.query is None:  # a composite key's duplicates
        if dialect != "duckdb" or check.metric not in _DISTINCT_METRICS:
            return None  # DuckDB's row value (a, b) is counted with NULL parts; other engines differ
        key = exp.Tuple(expressions=[_col(c) for c in check.columns])
        distinct = exp.Count(this=exp.Distinct(expressions=[key]))
        return exp.Sub(this=exp.Count(this=exp.Star()), expression=distinct)
    if {k for k, v in separate.args.items() if v} - _COUNT_RULE_ARGS or len(separate.expressions) != 1:
        return None
    projection = separate.expressions[0]
    if isinstance(projection, exp.Alias):
        projection = projection.this
    source = separate.args["from_"].this
    where = separate.args.get("where")
    if (
        not isinstance(projection, exp.Count)
        or not isinstance(projection.this, exp.Star)
        or not isinstance(source, exp.Table)
        or source.sql(dialect=dialect) != table.sql(dialect=dialect)  # the relation itself, no alias
        or where is None
        or where.find(exp.Select, exp.Subquery, exp.AggFunc, exp.Window, exp.Placeholder) is not None
    ):
        return None
    return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=where.this.copy()))


def _separate(check: Check, table: exp.Table, dialect: str) -> exp.Select:
    if check.foreign_key is not None:
        return _foreign_key(check, table, dialect)
    if check.query is not None:
        return _sql_rule(check, table, dialect)
    # Composite duplicates: rows beyond the first of each repeated key.
    cols = [_col(c) for c in check.columns]
    groups = (
        exp.select(exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True))
        .from_(table.copy())
        .group_by(*cols)
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
    )
    excess = exp.Sub(this=exp.Sum(this=_col("n")), expression=exp.Count(this=exp.Star()))
    return exp.select(
        exp.alias_(exp.Coalesce(this=excess, expressions=[exp.Literal.number(0)]), "failing", quoted=True)
    ).from_(groups.subquery("dup"))


def _anti_join_condition(check: Check, dialect: str) -> tuple[exp.Expr, exp.Expr]:
    fk = check.foreign_key
    assert fk is not None
    target = relation_table(fk.target_relation, dialect).as_("tgt")
    matches = exp.and_(
        *[
            exp.EQ(this=_col(t, "tgt"), expression=_col(s, "src"))
            for s, t in zip(check.columns, fk.target_columns, strict=True)
        ]
    )
    exists = exp.Exists(this=exp.select(exp.Literal.number(1)).from_(target).where(matches))
    present = [exp.not_(_col(s, "src").is_(exp.null())) for s in check.columns]
    return exp.and_(*present, exp.not_(exists)), target


def _foreign_key(check: Check, table: exp.Table, dialect: str) -> exp.Select:
    condition, _ = _anti_join_condition(check, dialect)
    return (
        exp.select(exp.alias_(exp.Count(this=exp.Star()), "failing", quoted=True))
        .from_(table.copy().as_("src"))
        .where(condition)
    )


def _sql_rule(check: Check, table: exp.Table, dialect: str) -> exp.Select:
    text = check.query or ""
    for kind, spellings in _PLACEHOLDERS.items():
        for spelling in spellings:
            text = text.replace(spelling, _SENTINEL[kind])
    tree = sqlglot.parse_one(text, dialect=dialect)
    column = check.columns[0] if check.columns else None

    def substitute(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Table) and node.name == _SENTINEL["object"]:
            replaced = table.copy()
            if node.alias:
                replaced.set("alias", node.args["alias"].copy())
            return replaced
        if isinstance(node, exp.Column) and node.name == _SENTINEL["property"]:
            if column is None:
                raise ValueError(f"{check.id}: {{property}} used in an object-level sql rule")
            return exp.column(column, table=node.table or None, quoted=True)
        return node

    result = tree.transform(substitute)
    if not isinstance(result, exp.Select):
        raise ValueError(f"{check.id}: a sql rule must be one SELECT")
    return result


def _sample(check: Check, table: exp.Table, dialect: str) -> exp.Select | None:
    if check.metric in _PREDICATE_METRICS and len(check.columns) == 1:
        return exp.select("*").from_(table).where(_predicate(check, dialect))
    if check.metric in _DISTINCT_METRICS:
        cols = [_col(c) for c in check.columns]
        select = exp.select(*cols, exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)).from_(table)
        if len(cols) == 1:
            select = select.where(exp.not_(cols[0].copy().is_(exp.null())))
        return (
            select.group_by(*[c.copy() for c in cols])
            .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
            .order_by(*[c.copy() for c in cols])
        )
    if check.foreign_key is not None:
        condition, _ = _anti_join_condition(check, dialect)
        src_star = exp.Column(this=exp.Star(), table=exp.to_identifier("src"))
        return exp.select(src_star).from_(table.as_("src")).where(condition)
    return None
