"""Run a check plan through a caller-given ``query_fn`` and judge the results.

``run_checks`` issues, in order: a zero-row schema probe (skipped when the caller passes the Arrow
schema), the table's ONE aggregate scan (with the ``sql`` rules and composite keys it can fold in), one
query per other ``sql`` rule, composite key and foreign key, and, only for failed checks, a follow-up
returning up to five failing rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence, Set
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from open_data_contract_standard.model import OpenDataContractStandard
from sqlglot import exp

from meshplane.contracts.compile import ROW_COUNT, CompiledPlan, CompiledQuery, compile_sql, relation_table
from meshplane.contracts.custom import GE_ENGINES, INSTALL_HINT, great_expectations_installed, run_great_expectations
from meshplane.contracts.plan import (
    Check,
    CheckKind,
    CheckPlan,
    Operator,
    Threshold,
    Unit,
    compile_plan,
)
from meshplane.contracts.profile import (
    PortProfile,
    ProfileSample,
    finish_profile,
    profile_columns,
    profile_projections,
)
from meshplane.contracts.types import logical_compatible, physical_compatible
from meshplane.types import Severity

if TYPE_CHECKING:  # pyarrow only in annotations: contract plans are compiled by `check` without it
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "NOT_EXECUTED",
    "AggregateFn",
    "CheckResult",
    "QueryFn",
    "check_and_profile",
    "check_schema",
    "run_checks",
]

QueryFn = Callable[[str], "pa.Table"]
AggregateFn = Callable[[CompiledPlan], dict[str, Any]]
"""Runs a compiled plan's aggregate scan and returns its one row (by default ``query_fn(aggregate_sql)``); a
caller that knows the relation's files may answer its additive columns from what it remembers of them."""
_COUNTING = {
    "nullValues",
    "missingValues",
    "invalidValues",
    "duplicateValues",
    "required",
    "unique",
    "primaryKey",
    "foreignKey",
    "range",
    "length",
    "pattern",
    "enum",
}


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check, ready to store, print or turn into a ContractViolation."""

    check_id: str
    kind: CheckKind
    metric: str
    column: str | None
    observed: Any
    threshold: Threshold | None
    unit: Unit
    passed: bool
    severity: Severity
    failing_rows: int | None
    sample_rows: tuple[dict[str, Any], ...]
    message: str
    location: str = ""
    executed: bool = True  # False: a text or custom rule shown as "not executed", neither passed nor failed

    @property
    def blocks_publish(self) -> bool:
        """An error-severity failure: the staged data must not be published."""
        return not self.passed and self.severity is Severity.ERROR


NOT_EXECUTED = "not executed"


def _not_executed(plan: CheckPlan, check: Check, why: str) -> CheckResult:
    return CheckResult(
        check.id,
        check.kind,
        check.metric,
        check.column,
        None,
        None,
        check.unit,
        True,  # never blocks a publish; reported apart from passes and failures
        check.severity,
        None,
        (),
        f"{plan.contract_id}: {check.description}: {NOT_EXECUTED} ({why})",
        check.location,
        executed=False,
    )


def _why_not(check: Check) -> str:
    if check.metric == "text":
        return "a text rule is for people to read"
    if check.engine in GE_ENGINES:
        return f"custom rule for {check.engine}: install it to run it ({INSTALL_HINT})"
    engine = check.engine or "no engine named"
    return f"custom rule for {engine}: meshplane runs SQL, library and Great Expectations rules"


def _custom(plan: CheckPlan, check: Check, rows: Callable[[], pa.Table]) -> CheckResult:
    """A Great Expectations rule, run when the package is installed; any other custom or text rule is reported."""
    if check.metric != "custom" or check.engine not in GE_ENGINES or not great_expectations_installed():
        return _not_executed(plan, check, _why_not(check))
    try:
        outcome = run_great_expectations(check.implementation, rows())
    except Exception as error:  # a malformed expectation fails this rule only, with the reason
        return _failed(plan, check, f"Great Expectations could not run it: {error}")
    return CheckResult(
        check.id,
        check.kind,
        check.metric,
        check.column,
        outcome.observed,
        None,
        check.unit,
        outcome.passed,
        check.severity,
        None,
        (),
        f"{plan.contract_id}: {check.description}: {outcome.message}",
        check.location,
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _judge(
    plan: CheckPlan, check: Check, count: Any, row_count: int | None, samples: tuple[dict[str, Any], ...] = ()
) -> CheckResult:
    """Turn a raw measurement into a result; percent units divide counts by the row count."""
    observed: Any = count
    failing: int | None = int(count) if check.metric in _COUNTING and count is not None else None
    if check.unit is Unit.PERCENT and check.metric in _COUNTING and count is not None:
        observed = round(100.0 * int(count) / row_count, 6) if row_count else 0.0
    passed = check.threshold.holds(observed)
    subject = "+".join(check.columns) + " " if check.columns else ""
    unit = " %" if check.unit is Unit.PERCENT else (" rows" if check.metric in _COUNTING | {"rowCount"} else "")
    message = f"{plan.contract_id}: {subject}{check.metric} = {_fmt(observed)}{unit}, {check.threshold.render()}"
    return CheckResult(
        check.id,
        check.kind,
        check.metric,
        check.column,
        observed,
        check.threshold,
        check.unit,
        passed,
        check.severity,
        failing,
        samples,
        message,
        check.location,
    )


def _failed(plan: CheckPlan, check: Check, why: str) -> CheckResult:
    return CheckResult(
        check.id,
        check.kind,
        check.metric,
        check.column,
        None,
        check.threshold,
        check.unit,
        False,
        check.severity,
        None,
        (),
        f"{plan.contract_id}: {'+'.join(check.columns) or plan.table} {check.metric}: {why}",
        check.location,
    )


def check_schema(
    contract: OpenDataContractStandard | CheckPlan, arrow_schema: pa.Schema, *, table_index: int = 0
) -> list[CheckResult]:
    """Columns present, no undeclared columns, and types compatible with the contract."""
    plan = contract if isinstance(contract, CheckPlan) else compile_plan(contract, table_index=table_index)
    fields = {f.name: f.type for f in arrow_schema}
    results: list[CheckResult] = []
    for check in plan.checks:
        if check.metric not in ("present", "type"):
            continue
        name = check.columns[0]
        arrow_type = fields.get(name)
        if check.metric == "present":
            ok = arrow_type is not None
            what = "present" if ok else "missing from the data"
            results.append(
                CheckResult(
                    check.id,
                    check.kind,
                    "present",
                    name,
                    ok,
                    check.threshold,
                    Unit.ROWS,
                    ok,
                    check.severity,
                    None,
                    (),
                    f"{plan.contract_id}: column {name} is {what}",
                    check.location,
                )
            )
            continue
        if arrow_type is None:
            continue  # reported once, by the presence check
        spec = next(c for c in plan.columns if c.name == name)
        ok = True
        if spec.logical_type:
            ok = logical_compatible(arrow_type, spec.logical_type)
        if ok and spec.physical_type:
            ok = physical_compatible(arrow_type, spec.physical_type)
        declared = " / ".join(t for t in (spec.logical_type, spec.physical_type) if t)
        verdict = "compatible with" if ok else "not compatible with"
        results.append(
            CheckResult(
                check.id,
                check.kind,
                "type",
                name,
                str(arrow_type),
                check.threshold,
                Unit.ROWS,
                ok,
                check.severity,
                None,
                (),
                f"{plan.contract_id}: {name} has type {arrow_type}, {verdict} {declared}",
                check.location,
            )
        )
    declared_names = {c.name for c in plan.columns}
    base = plan.checks[0].id.rsplit(".", 2)[0] if plan.checks else plan.contract_id
    for name in fields:
        if name not in declared_names:
            results.append(
                CheckResult(
                    f"{base}.{name}.undeclared",
                    CheckKind.SCHEMA,
                    "undeclared",
                    name,
                    True,
                    Threshold(Operator.MUST_BE, False),
                    Unit.ROWS,
                    False,
                    Severity.ERROR,
                    None,
                    (),
                    f"{plan.contract_id}: column {name} is in the data but not in the contract",
                    f"schema[{plan.table_index}].properties",
                )
            )
    return results


def _rows(table: pa.Table) -> tuple[dict[str, Any], ...]:
    return tuple(table.to_pylist())


def _first_value(table: pa.Table) -> Any:
    if table.num_rows == 0 or table.num_columns == 0:
        return None
    return table.column(0)[0].as_py()


def run_checks(
    plan: CheckPlan,
    relation_name: str,
    query_fn: QueryFn,
    *,
    dialect: str = "duckdb",
    schema: pa.Schema | None = None,
    sample_limit: int = 5,
) -> list[CheckResult]:
    """Run every check of ``plan`` on ``relation_name``; results follow the plan's order.

    ``query_fn(sql)`` runs one statement on the engine and returns an Arrow table. Checks on
    columns missing from the data fail without touching the engine; queries of their own that
    raise (a broken ``sql`` rule, a missing foreign-key target) fail their check only.
    """
    results, _ = check_and_profile(
        plan, relation_name, query_fn, dialect=dialect, schema=schema, sample_limit=sample_limit
    )
    return results


def check_and_profile(
    plan: CheckPlan,
    relation_name: str,
    query_fn: QueryFn,
    *,
    dialect: str = "duckdb",
    schema: pa.Schema | None = None,
    sample_limit: int = 5,
    profile: bool = False,
    sensitive: Collection[str] = (),
    sample: ProfileSample | None = None,
    aggregate: AggregateFn | None = None,
) -> tuple[list[CheckResult], PortProfile | None]:
    """:func:`run_checks`, and with ``profile`` the relation's profile, measured in the checks' aggregate scan;
    the values of the ``sensitive`` columns are never profiled (their null counts are). With ``sample`` the
    values' measures come from that sample of the relation instead (the row and null counts stay exact); the
    checks always run on every row. ``aggregate`` runs the aggregate scan instead of ``query_fn``."""
    if schema is None:
        probe = exp.select("*").from_(relation_table(relation_name, dialect)).limit(0)
        schema = query_fn(probe.sql(dialect=dialect)).schema
    by_id: dict[str, CheckResult] = {r.check_id: r for r in check_schema(plan, schema)}
    present = set(schema.names)
    runnable: list[str] = []
    loaded: list[pa.Table] = []

    def rows() -> pa.Table:  # read once, only when a custom rule runs
        if not loaded:
            loaded.append(query_fn(exp.select("*").from_(relation_table(relation_name, dialect)).sql(dialect=dialect)))
        return loaded[0]

    for check in plan.checks:
        if check.metric in ("present", "type"):
            continue
        if not check.executable:
            by_id[check.id] = _custom(plan, check, rows)
            continue
        missing = [c for c in check.columns if c not in present]
        if missing:
            by_id[check.id] = _failed(plan, check, f"column {', '.join(missing)} missing from the data")
        else:
            runnable.append(check.id)
    columns = profile_columns(schema, frozenset(sensitive)) if profile else ()
    extra = profile_projections(columns, values=sample is None)
    compiled = compile_sql(plan, relation_name, dialect=dialect, only=runnable, extra=extra)
    measured: dict[str, Any] = {}
    scan = aggregate or (lambda compiled: query_fn(compiled.aggregate_sql).to_pylist()[0])
    row_count = _aggregate(plan, compiled, scan, query_fn, by_id, measured, force=profile)
    for query in compiled.queries:
        _run_alone(plan, query, query_fn, row_count, by_id)
    _add_samples(plan, compiled, query_fn, by_id, sample_limit)
    ordered = [by_id[c.id] for c in plan.checks if c.id in by_id]
    ordered += [r for r in by_id.values() if r.metric == "undeclared"]
    if not profile:
        return ordered, None
    found = finish_profile(
        columns, measured, row_count or 0, relation_name, query_fn, dialect=dialect, schema=schema, sample=sample
    )
    return ordered, found


def _aggregate(
    plan: CheckPlan,
    compiled: CompiledPlan,
    scan: AggregateFn,
    query_fn: QueryFn,
    by_id: dict[str, CheckResult],
    into: dict[str, Any],
    *,
    force: bool = False,
) -> int | None:
    """Run the one aggregate scan when something needs it (``force``: the profile does); its row goes ``into``."""
    needed = bool(compiled.measures) or any(plan.by_id(q.check_id).unit is Unit.PERCENT for q in compiled.queries)
    if not needed and not force:
        return None
    try:
        row = scan(compiled)
    except Exception:
        if not compiled.folded:
            raise
        # A folded rule broke the scan: scan without them, then each runs alone and fails only itself.
        row = query_fn(compiled.unfolded_sql).to_pylist()[0]
        into.update(row)
        row_count = int(row[ROW_COUNT])
        alone = {q.check_id for q in compiled.folded}
        _judge_measures(plan, compiled, row, row_count, by_id, skip=alone)
        for query in compiled.folded:
            _run_alone(plan, query, query_fn, row_count, by_id)
        return row_count
    into.update(row)
    row_count = int(row[ROW_COUNT])
    _judge_measures(plan, compiled, row, row_count, by_id, skip=frozenset())
    return row_count


def _judge_measures(
    plan: CheckPlan,
    compiled: CompiledPlan,
    row: dict[str, Any],
    row_count: int,
    by_id: dict[str, CheckResult],
    *,
    skip: Set[str],
) -> None:
    for check_id, alias in compiled.measures:
        if check_id not in skip:
            by_id[check_id] = _judge(plan, plan.by_id(check_id), row[alias], row_count)


def _run_alone(
    plan: CheckPlan, query: CompiledQuery, query_fn: QueryFn, row_count: int | None, by_id: dict[str, CheckResult]
) -> None:
    check = plan.by_id(query.check_id)
    try:
        value = _first_value(query_fn(query.sql))
    except Exception as error:  # the rule's own SQL or its target failed: fail this check only
        by_id[check.id] = _failed(plan, check, f"could not run: {error}")
        return
    by_id[check.id] = _judge(plan, check, value, row_count)


def _add_samples(
    plan: CheckPlan, compiled: CompiledPlan, query_fn: QueryFn, by_id: dict[str, CheckResult], limit: int
) -> None:
    if limit <= 0:
        return
    known = {c.id for c in plan.checks}
    for check_id, result in list(by_id.items()):
        if result.passed or not result.failing_rows or check_id not in known:
            continue
        sql = compiled.sample_sql(plan.by_id(check_id), limit)
        if sql is None:
            continue
        try:
            samples = _rows(query_fn(sql))
        except Exception:  # samples are a courtesy: the verdict stands without them
            continue
        by_id[check_id] = _with_samples(result, samples)


def _with_samples(result: CheckResult, samples: Sequence[dict[str, Any]]) -> CheckResult:
    return replace(result, sample_rows=tuple(samples))
