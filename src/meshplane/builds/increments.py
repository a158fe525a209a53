"""Append runs: an increment's bounds, its guard, and which contract checks see the increment vs the whole table.

An append port (``customProperties: refresh: append, watermark: <column>``) computes only the rows after the
watermark column's last published value. Its transform reads a one-row relation ``increment_bounds`` whose
``start`` column holds that value (exclusive; NULL on a full run). Row-level rules are checked on the increment;
rules about the whole table (uniqueness, row counts, foreign keys, SQL rules) on the published rows plus the
increment, before anything is published.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlglot import exp

from meshplane.contracts.compile import DISTINCT_METRICS, ROW_METRICS, SCHEMA_ONLY_METRICS, compile_sql
from meshplane.contracts.plan import Unit, compile_plan
from meshplane.engines.base import Engine, FileRelation, GovernedRelation, Relation, StagedResult
from meshplane.spec import OutputPortSpec
from meshplane.storage import SnapshotInfo

__all__ = [
    "BOUNDS",
    "WATERMARK_RULE",
    "bounds_relation",
    "counts_duplicates",
    "increment_relations",
    "inline_bounds",
    "key_columns",
    "keyed_relation",
    "live_rows",
    "merge_sql",
    "on_increment",
    "summable_table_rules",
    "watermark_violations",
]

BOUNDS = "increment_bounds"
WATERMARK_RULE = "increment.watermark"
_PUBLISHED = "__meshplane_published"
_INCREMENT = "__meshplane_increment"


def bounds_relation(engine: Engine, port: OutputPortSpec, current: SnapshotInfo | None) -> GovernedRelation:
    """``increment_bounds(start)``: the watermark's maximum over ``current`` (None: a full run, start NULL).

    The bounds are one constant SELECT, not a table: the engine folds ``(SELECT start FROM increment_bounds)``
    into the transform's filter and skips the Parquet row groups before it (an Arrow table would also cost
    the sandboxed child an import of pandas on every build)."""
    start: exp.Expression = exp.Null()
    if current is not None and current.data_files:
        assert port.watermark is not None  # the spec refuses an append port without one
        maximum = _footer_maximum(current, port.watermark)
        if maximum is None:  # the footers cannot say: read the column
            query = exp.select(exp.Max(this=exp.column(port.watermark, quoted=True)).as_("start")).from_(_PUBLISHED)
            relations: dict[str, Relation] = {_PUBLISHED: FileRelation(paths=current.data_files)}
            maximum = engine.query(query.sql(dialect=engine.capabilities.sql_dialect), relations).column(0)[0]
        start = _literal(maximum)
    return GovernedRelation(select=exp.select(exp.alias_(start, "start")).sql("duckdb"), files=())


def _footer_maximum(current: SnapshotInfo, column: str) -> Any | None:
    """The column's maximum over the published files as an Arrow scalar, from their footers' statistics (the
    files are immutable and cached, so a daily build reads only the footer of the file it added yesterday);
    None when a footer cannot say exactly."""
    import pyarrow as pa

    from meshplane.storage.footers import column_range

    ranges = [column_range(path, column) for path in current.data_files]
    if column not in current.schema.names or any(found is None for found in ranges):
        return None
    highs = [found.high for found in ranges if found is not None and found.high is not None]
    try:
        return pa.scalar(max(highs) if highs else None, type=current.schema.field(column).type)
    except (TypeError, ValueError, pa.ArrowException):  # a value the column's type does not take as it is
        return None


def inline_bounds(sql: str, dialect: str | None, bounds: GovernedRelation) -> exp.Expr | None:
    """The transform with each ``(SELECT <column> FROM increment_bounds)`` replaced by the bound's value.

    A constant lets the engine push the filter into the scan of its sources (Parquet row groups and files
    before the watermark are skipped); through a scalar subquery, ``start IS NULL OR t > start`` read every
    row of a year to append a day. Other uses of ``increment_bounds`` (a join) still read the relation. None
    when the transform does not parse (the engine reports its own syntax error)."""
    import sqlglot

    values = {
        projection.alias_or_name: projection.this if isinstance(projection, exp.Alias) else projection
        for projection in sqlglot.parse_one(bounds.select, read="duckdb").assert_is(exp.Select).expressions
    }
    try:
        tree = sqlglot.parse_one(sql, read=dialect or "duckdb")
    except sqlglot.errors.ParseError:
        return None

    def constant(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Subquery) or not isinstance(node.this, exp.Select):
            return node
        select = node.this
        source = select.args.get("from_") or select.args.get("from")
        table = source.this if source is not None else None
        plain = not any(select.args.get(k) for k in ("joins", "where", "group", "having", "limit", "with"))
        if not (plain and isinstance(table, exp.Table) and table.name == BOUNDS and not table.db):
            return node
        if len(select.expressions) != 1 or select.expressions[0].alias_or_name not in values:
            return node
        return exp.paren(values[select.expressions[0].alias_or_name].copy())

    return tree.transform(constant, copy=False)  # parsed here: no one else holds the tree


def _literal(value: Any) -> exp.Expression:
    """An Arrow scalar as a typed SQL literal (DuckDB dialect, as GovernedRelation selects are)."""
    import pyarrow as pa

    python = value.as_py()
    if python is None:
        return exp.Null()
    kind = value.type
    if pa.types.is_boolean(kind):
        return exp.Boolean(this=bool(python))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return exp.Literal.number(str(python))
    if pa.types.is_timestamp(kind):
        target = "TIMESTAMPTZ" if kind.tz else "TIMESTAMP"
        return exp.cast(exp.Literal.string(python.isoformat()), exp.DataType.build(target, dialect="duckdb"))
    if pa.types.is_date(kind):
        return exp.cast(exp.Literal.string(python.isoformat()), exp.DataType.build("DATE"))
    return exp.Literal.string(str(python))


def increment_relations(current: SnapshotInfo, result: StagedResult) -> tuple[FileRelation, FileRelation]:
    """The new rows, and the table as it would be after publishing them (published rows plus new ones)."""
    return FileRelation(paths=result.files), FileRelation(paths=(*current.data_files, *result.files))


_KNOWN: dict[tuple[int, str], tuple[object, Any]] = {}  # (id of a contract spec, question) -> (the spec, answer)


def _of_contract(port: OutputPortSpec, question: str, answer: Callable[[], Any]) -> Any:
    """``answer()`` about the port's contract, once per contract spec: a mesh keeps its specs (immutable) from
    build to build, and every daily append asks the same questions of the same contract."""
    key = (id(port.contract), question)
    found = _KNOWN.get(key)
    if found is not None and found[0] is port.contract:  # the very spec, not one reusing a freed id
        return found[1]
    value = answer()
    if len(_KNOWN) >= 256:
        _KNOWN.clear()
    _KNOWN[key] = (port.contract, value)
    return value


def key_columns(port: OutputPortSpec) -> frozenset[str] | None:
    """The columns the contract's uniqueness rules (unique, primaryKey, duplicateValues) count duplicates of;
    None when one of them is a percentage (it needs the whole table's row count)."""

    def answer() -> frozenset[str] | None:
        checks = [c for c in compile_plan(port.contract.odcs).checks if c.metric in DISTINCT_METRICS]
        if any(c.unit is Unit.PERCENT for c in checks):
            return None
        return frozenset(column for check in checks for column in check.columns)

    found: frozenset[str] | None = _of_contract(port, "keys", answer)
    return found


def keyed_relation(current: SnapshotInfo, result: StagedResult, keys: frozenset[str]) -> Relation:
    """The new rows and the published rows that share a key value with one of them.

    The published rows passed the same uniqueness rules when they were published (an append run keeps the
    contract), so every duplicate the table would have after the append has a new row in it: counting
    duplicates here counts them in the whole table, while reading only the published key columns to find
    the few rows that matter instead of hashing the whole table. A published file whose footer puts every key
    outside the new keys' bounds holds none of them and is not read (keys that grow with time: all of them)."""
    published = _sharing_keys(current.data_files, result.files, keys)
    if not published:
        return FileRelation(paths=result.files)
    new = exp.select("*").from_(_files(result.files))
    matching = [
        exp.In(
            this=exp.column(key, quoted=True),
            query=exp.select(exp.column(key, quoted=True)).from_(_files(result.files)).subquery(),
        )
        for key in sorted(keys)
    ]
    union = exp.union(new, exp.select("*").from_(_files(published)).where(exp.or_(*matching)), distinct=False)
    return GovernedRelation(select=union.sql("duckdb"), files=tuple(str(p) for p in (*result.files, *published)))


def _sharing_keys(published: tuple[Any, ...], new: tuple[Any, ...], keys: frozenset[str]) -> tuple[Any, ...]:
    """The published files that may hold one of the new files' key values (all of them when a footer cannot
    say): those whose bounds of some key column meet the new files' bounds of it."""
    from meshplane.storage.footers import ColumnRange, column_bounds

    def bounds(paths: tuple[Any, ...], key: str) -> tuple[Any, Any] | None:
        found = [column_bounds(path, key) for path in paths]
        ranges = [f for f in found if f is not None and f.low is not None]
        if any(f is None for f in found) or not ranges:
            return None
        try:
            return min(f.low for f in ranges), max(f.high for f in ranges)
        except TypeError:  # values the footers give in types that do not compare
            return None

    wanted = {key: bounds(new, key) for key in keys}
    if any(found is None for found in wanted.values()):
        return published

    def apart(found: ColumnRange | None, key: str) -> bool:
        low, high = wanted[key] or (None, None)
        if found is None:
            return False
        if found.low is None:  # only NULLs: they match no key
            return True
        try:
            return bool(found.high < low or found.low > high)
        except TypeError:
            return False

    return tuple(path for path in published if not all(apart(column_bounds(path, key), key) for key in keys))


def summable_table_rules(port: OutputPortSpec, dialect: str) -> bool:
    """Whether the contract's table rules other than uniqueness (row count, ``sql`` rules) are all counts whose
    value over the table is the sum of their values over its files (:func:`~meshplane.contracts.compile.additive`,
    none a query of its own). Measured in the new rows' scan too, the whole-table check then adds the published
    files' remembered counts (:mod:`meshplane.workspace.file_counts`) and scans nothing."""

    def answer() -> bool:
        plan = compile_plan(port.contract.odcs)
        rules = [c for c in plan.checks if c.metric not in SCHEMA_ONLY_METRICS and not on_increment(c.metric)
                 and not counts_duplicates(c.metric)]  # fmt: skip
        if not rules or not all(c.executable for c in rules):
            return False
        compiled = compile_sql(plan, "t", dialect=dialect, only=[c.id for c in rules])
        return not compiled.queries and compiled.only_additive

    return bool(_of_contract(port, f"summable in {dialect}", answer))


def counts_duplicates(metric: str) -> bool:
    """Whether a rule counts duplicate values (checked on :func:`keyed_relation` in an append run)."""
    return metric in DISTINCT_METRICS


def _files(paths: tuple[Any, ...]) -> exp.Expression:
    return exp.Anonymous(
        this="read_parquet", expressions=[exp.Array(expressions=[exp.Literal.string(str(p)) for p in paths])]
    )


def merge_sql(port: OutputPortSpec, published: str | None, increment: str) -> str:
    """The table after a merge run (DuckDB dialect): the published rows whose primary key the increment does
    not name, then the increment's rows, less those its ``deleteFlag`` marks (their keys are deleted). Without
    published rows (``published`` None), the increment's kept rows."""
    upserts = exp.select(exp.Star()).from_(exp.to_table(increment))
    if port.delete_flag is not None:
        flag = exp.column(port.delete_flag, quoted=True)
        upserts = upserts.where(exp.Not(this=exp.Is(this=flag, expression=exp.true())))
    if published is None:
        return upserts.sql("duckdb")
    keys = [c.name for c in port.contract.columns if c.primary_key]
    match = exp.and_(
        *(exp.EQ(this=exp.column(k, "i", quoted=True), expression=exp.column(k, "p", quoted=True)) for k in keys)
    )
    same_key = exp.select(exp.Literal.number(1)).from_(exp.to_table(increment).as_("i")).where(match)
    kept = exp.select(exp.Star()).from_(exp.to_table(published).as_("p")).where(exp.Not(this=exp.Exists(this=same_key)))
    return exp.union(kept, upserts, distinct=False).sql("duckdb")


def live_rows(port: OutputPortSpec, result: StagedResult) -> Relation:
    """An increment's rows that stay in the table (a merge's rows marked deleted are checked by no row rule)."""
    if port.delete_flag is None:
        return FileRelation(paths=result.files)
    flag = exp.column(port.delete_flag, quoted=True)
    kept = exp.Not(this=exp.Is(this=flag, expression=exp.true()))
    select = exp.select(exp.Star()).from_(_files(result.files)).where(kept)
    return GovernedRelation(select=select.sql("duckdb"), files=tuple(str(p) for p in result.files))


def on_increment(metric: str) -> bool:
    """Whether a rule is checked on the increment (row-level) rather than on the whole table."""
    return metric in ROW_METRICS


def watermark_violations(
    port: OutputPortSpec, engine: Engine, increment: FileRelation, bounds: GovernedRelation
) -> int:
    """New rows at or before the published watermark, or without one: appending them would repeat or misplace rows.

    The staged files' footers answer when they can say exactly that every new row lies after it (the usual
    case: the transform filtered by it); otherwise the new rows are counted."""
    assert port.watermark is not None
    if _after_start(port.watermark, increment, bounds):
        return 0
    column = exp.column(port.watermark, quoted=True)
    start = exp.select("start").from_(BOUNDS).subquery()
    outside = exp.or_(exp.Is(this=column, expression=exp.Null()), exp.LTE(this=column, expression=start))
    query = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(_INCREMENT).where(outside)
    rows = engine.query(query.sql(dialect=engine.capabilities.sql_dialect), {_INCREMENT: increment, BOUNDS: bounds})
    return int(rows.column(0)[0].as_py())


def _after_start(column: str, increment: FileRelation, bounds: GovernedRelation) -> bool:
    """Whether the increment's footers say every row's ``column`` is non-null and after the bounds' start."""
    import sqlglot

    from meshplane.builds.pruning import constant
    from meshplane.storage.footers import column_range

    [projection] = sqlglot.parse_one(bounds.select, read="duckdb").assert_is(exp.Select).expressions
    start = constant(projection.this if isinstance(projection, exp.Alias) else projection)
    if start is None:
        return False
    for path in increment.paths:
        found = column_range(path, column)
        if found is None or found.nulls:
            return False
        try:
            if found.low is not None and not found.low > start:
                return False
        except TypeError:  # the footer's value and the start do not compare: count the rows
            return False
    return True
