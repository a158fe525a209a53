"""Append runs: an increment's bounds, its guard, and which contract checks see the increment vs the whole table.

An append port (``customProperties: refresh: append, watermark: <column>``) computes only the rows after the
watermark column's last published value. Its transform reads a one-row relation ``increment_bounds`` whose
``start`` column holds that value (exclusive; NULL on a full run). Row-level rules are checked on the increment;
rules about the whole table (uniqueness, row counts, foreign keys, SQL rules) on the published rows plus the
increment, before anything is published.
"""

from __future__ import annotations

from sqlglot import exp

from meshplane.contracts.compile import ROW_METRICS
from meshplane.engines.base import ArrowRelation, Engine, FileRelation, Relation, StagedResult
from meshplane.spec import OutputPortSpec
from meshplane.storage import SnapshotInfo

__all__ = [
    "BOUNDS",
    "WATERMARK_RULE",
    "bounds_relation",
    "increment_relations",
    "on_increment",
    "watermark_violations",
]

BOUNDS = "increment_bounds"
WATERMARK_RULE = "increment.watermark"
_PUBLISHED = "__meshplane_published"
_INCREMENT = "__meshplane_increment"


def bounds_relation(engine: Engine, port: OutputPortSpec, current: SnapshotInfo | None) -> ArrowRelation:
    """``increment_bounds(start)``: the watermark's maximum over ``current`` (None: a full run, start NULL)."""
    import pyarrow as pa

    if current is None or not current.data_files:
        return ArrowRelation(pa.table({"start": pa.nulls(1)}))
    assert port.watermark is not None  # the spec refuses an append port without one
    query = exp.select(exp.Max(this=exp.column(port.watermark, quoted=True)).as_("start")).from_(_PUBLISHED)
    relations: dict[str, Relation] = {_PUBLISHED: FileRelation(paths=current.data_files)}
    return ArrowRelation(engine.query(query.sql(dialect=engine.capabilities.sql_dialect), relations))


def increment_relations(current: SnapshotInfo, result: StagedResult) -> tuple[FileRelation, FileRelation]:
    """The new rows, and the table as it would be after publishing them (published rows plus new ones)."""
    return FileRelation(paths=result.files), FileRelation(paths=(*current.data_files, *result.files))


def on_increment(metric: str) -> bool:
    """Whether a rule is checked on the increment (row-level) rather than on the whole table."""
    return metric in ROW_METRICS


def watermark_violations(port: OutputPortSpec, engine: Engine, increment: FileRelation, bounds: ArrowRelation) -> int:
    """New rows at or before the published watermark, or without one: appending them would repeat or misplace rows."""
    assert port.watermark is not None
    column = exp.column(port.watermark, quoted=True)
    start = exp.select("start").from_(BOUNDS).subquery()
    outside = exp.or_(exp.Is(this=column, expression=exp.Null()), exp.LTE(this=column, expression=start))
    query = exp.select(exp.Count(this=exp.Star()).as_("n")).from_(_INCREMENT).where(outside)
    rows = engine.query(query.sql(dialect=engine.capabilities.sql_dialect), {_INCREMENT: increment, BOUNDS: bounds})
    return int(rows.column(0)[0].as_py())
