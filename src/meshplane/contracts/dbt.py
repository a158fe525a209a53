"""The dbt export: a port's contract as a dbt model (``schema.yml``) whose tests are the contract's checks.

Model names are ``<domain>__<product>__<port>`` (the port address with ``__`` for ``.``; a further table of a
multi-table contract appends ``__<table>``), so two domains' ``trials`` never clash. Checks that dbt's built-in
generic tests express exactly become them (``not_null``, ``unique``, ``accepted_values``, ``relationships``);
every other check (ranges, patterns, row counts, percentages, SQL rules, composite keys) becomes the generic test
``meshplane_check``, whose ``failing_sql`` is meshplane's own compiled check, judged against its threshold in SQL
(it returns a row exactly when the check fails). That macro is :data:`DBT_TEST_MACRO`; put it in ``macros/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from open_data_contract_standard.model import OpenDataContractStandard, SchemaObject, SchemaProperty
from sqlglot import exp

from meshplane.contracts.compile import SCHEMA_ONLY_METRICS, _measure, _separate, in_aggregate, relation_table
from meshplane.contracts.plan import Check, CheckPlan, Operator, Threshold, Unit, compile_plan
from meshplane.types import Severity

__all__ = ["DBT_TEST_MACRO", "dbt_model_name", "dbt_schema"]

MODEL = "__meshplane_model__"  # replaced by the model's relation inside the macro

DBT_TEST_MACRO = """\
{#- meshplane: a contract check compiled to SQL; returns one row exactly when the check fails. -#}
{% test meshplane_check(model, failing_sql) %}
{{ failing_sql | replace("__meshplane_model__", model) }}
{% endtest %}
"""


def dbt_model_name(contract_id: str, table: str | None = None) -> str:
    """``media.podcasts.listening_events`` -> ``media__podcasts__listening_events`` (``__<table>`` appended for a
    further table of a contract with several)."""
    name = contract_id.replace(".", "__").replace("-", "_")
    return f"{name}__{table}" if table else name


def _test_name(check_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", check_id.replace(".", "__"))


def _ref_tables(to: Any) -> list[str]:
    refs = [to] if isinstance(to, str) else list(to or [])
    return [r.rpartition(".")[0] for r in refs if "/" not in r and "." in r]


def _builtin(check: Check, references: Mapping[str, str], own_table: str) -> Any | None:
    """The dbt built-in generic test that means exactly ``check``, if any."""
    if check.threshold != Threshold(Operator.MUST_BE, 0) or check.unit is not Unit.ROWS or len(check.columns) != 1:
        return None
    metric = check.metric
    if metric in ("required", "nullValues"):
        return "not_null"
    if metric in ("unique", "duplicateValues"):
        return "unique"
    if metric in ("invalidValues", "enum") and check.pattern is None and check.valid_values:
        return {"accepted_values": {"arguments": {"values": list(check.valid_values)}}}
    if metric == "foreignKey" and check.foreign_key is not None and len(check.foreign_key.target_columns) == 1:
        target = check.foreign_key.target_table
        model = "{{ this }}" if target == own_table else f"ref('{references.get(target, target)}')"
        return {"relationships": {"arguments": {"to": model, "field": check.foreign_key.target_columns[0]}}}
    return None


def _judged(check: Check, threshold: Threshold, observed: exp.Expr) -> exp.Expr:
    op, value = threshold.operator, threshold.value
    if op in (Operator.MUST_BE_BETWEEN, Operator.MUST_NOT_BE_BETWEEN):
        low, high = value
        inside = exp.Between(this=observed, low=exp.convert(low), high=exp.convert(high))
        return inside if op is Operator.MUST_BE_BETWEEN else exp.not_(inside)
    comparisons: dict[Operator, type[exp.Binary]] = {
        Operator.MUST_BE: exp.EQ,
        Operator.MUST_NOT_BE: exp.NEQ,
        Operator.MUST_BE_GREATER_THAN: exp.GT,
        Operator.MUST_BE_GREATER_OR_EQUAL_TO: exp.GTE,
        Operator.MUST_BE_LESS_THAN: exp.LT,
        Operator.MUST_BE_LESS_OR_EQUAL_TO: exp.LTE,
    }
    return comparisons[op](this=observed, expression=exp.convert(value))


def failing_sql(check: Check, dialect: str = "duckdb") -> str:
    """One query over :data:`MODEL` that returns a row exactly when ``check`` fails its threshold."""
    table = relation_table(MODEL, dialect)
    total = exp.Count(this=exp.Star())
    if in_aggregate(check):
        measured = exp.select(
            exp.alias_(_measure(check, dialect), "measured", quoted=True), exp.alias_(total, "total", quoted=True)
        ).from_(table)
    else:
        measured = _first_value(check, table, dialect)
    observed: exp.Expr = exp.column("measured", quoted=True)
    if check.unit is Unit.PERCENT and check.metric != "rowCount":
        observed = exp.Div(
            this=exp.Mul(this=exp.Literal.number(100.0), expression=observed),
            expression=exp.func("NULLIF", exp.column("total", quoted=True), exp.Literal.number(0)),
        )
    condition = exp.not_(exp.Coalesce(this=_judged(check, check.threshold, observed), expressions=[exp.false()]))
    return exp.select("*").from_(measured.subquery("m")).where(condition).sql(dialect=dialect)


def _first_value(check: Check, table: exp.Table, dialect: str) -> exp.Select:
    """A separate check's query (one value) as ``measured``, beside the table's row count as ``total``."""
    inner = _separate(check, table, dialect)
    first = inner.selects[0]
    value = first.this if isinstance(first, exp.Alias) else first
    inner = inner.copy()
    inner.set("expressions", [exp.alias_(value.copy(), "measured", quoted=True)])
    count = exp.select(exp.Count(this=exp.Star())).from_(table.copy()).subquery()
    return exp.select(exp.column("measured", quoted=True), exp.alias_(count, "total", quoted=True)).from_(
        inner.subquery("q")
    )


def _sql_type(prop: SchemaProperty, logical_sql: Mapping[str, str]) -> str:
    text = prop.physicalType or logical_sql.get(prop.logicalType or "string", "VARCHAR")
    return exp.DataType.build(text, dialect="duckdb").sql(dialect="duckdb").lower()


def dbt_schema(
    contract: OpenDataContractStandard,
    table_index: int,
    logical_sql: Mapping[str, str],
    references: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``schema.yml`` document of one table of ``contract``; ``references`` maps a foreign key's target
    table to its dbt model name (default: the table name)."""
    objects = contract.schema_ or []
    obj: SchemaObject = objects[table_index]
    table = obj.physicalName or obj.name or ""
    refs = dict(references or {})
    # Foreign-key targets compile to sentinels, replaced by dbt refs in the test SQL.
    targets = sorted({t for p in obj.properties or [] for r in p.relationships or [] for t in _ref_tables(r.to)})
    targets += sorted({t for r in obj.relationships or [] for t in _ref_tables(r.to)} - set(targets))
    sentinels = {target: f"__meshplane_ref_{n}__" for n, target in enumerate(targets)}
    plan: CheckPlan = compile_plan(contract, table_index=table_index, references=sentinels)
    by_column: dict[str, list[Any]] = {}
    model_tests: list[Any] = []
    for check in plan.checks:
        if check.metric in SCHEMA_ONLY_METRICS or not check.executable:
            continue  # types are the enforced model contract; text/custom rules are not SQL
        config = {} if check.severity is Severity.ERROR else {"config": {"severity": "warn"}}
        builtin = _builtin(check, refs, table)
        if builtin is not None:
            if config:
                name = builtin if isinstance(builtin, str) else next(iter(builtin))
                args = {} if isinstance(builtin, str) else builtin[name]
                builtin = {name: {**args, **config}}
            tests = by_column.setdefault(check.columns[0], [])
            if builtin not in tests:  # `unique: true` and a duplicateValues rule are one dbt test
                tests.append(builtin)
            continue
        sql = failing_sql(check)
        for target, sentinel in sentinels.items():
            ref = "{{ this }}" if target == table else "{{ ref('" + refs.get(target, target) + "') }}"
            sql = sql.replace(f'"{sentinel}"', ref).replace(sentinel, ref)
        arguments = {"failing_sql": sql}
        model_tests.append({"meshplane_check": {"name": _test_name(check.id), "arguments": arguments, **config}})
    key = [c.name for c in plan.columns if c.name in _primary_key(obj)]
    columns: list[dict[str, Any]] = []
    for prop in obj.properties or []:
        name = prop.name or ""
        column: dict[str, Any] = {"name": name, "data_type": _sql_type(prop, logical_sql)}
        if prop.description:
            column["description"] = prop.description
        constraints: list[dict[str, Any]] = []
        if prop.required or name in key:
            constraints.append({"type": "not_null"})
        if len(key) == 1 and name in key:
            constraints.append({"type": "primary_key"})
        if constraints:
            column["constraints"] = constraints
        if by_column.get(name):
            column["data_tests"] = by_column[name]
        columns.append(column)
    model: dict[str, Any] = {"name": dbt_model_name(contract.id or table, table if table_index else None)}
    description = obj.description or (contract.description.purpose if contract.description else None)
    if description:
        model["description"] = description
    model["config"] = {"contract": {"enforced": True}, "meta": {"odcs_id": contract.id, "table": table}}
    if len(key) > 1:
        model["constraints"] = [{"type": "primary_key", "columns": key}]
    model["columns"] = columns
    if model_tests:
        model["data_tests"] = model_tests
    return {"version": 2, "models": [model]}


def _primary_key(obj: SchemaObject) -> list[str]:
    keyed = [
        ((p.primaryKeyPosition if (p.primaryKeyPosition or 0) > 0 else 10_000 + i), p.name or "")
        for i, p in enumerate(obj.properties or [])
        if p.primaryKey
    ]
    return [name for _, name in sorted(keyed)]
