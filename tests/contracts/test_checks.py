"""Each rule type catches an injected violation with the right observed value, in one aggregate scan."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from contract_helpers import ORDERS_SQL, Engine
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.contracts.compile import compile_sql
from meshplane.contracts.plan import Operator, PlanError, Threshold, Unit, compile_plan
from meshplane.contracts.runner import CheckResult, check_schema, run_checks
from meshplane.types import Severity

Load = Callable[[str], OpenDataContractStandard]
P = "sales.orders.orders"


@pytest.fixture
def results(engine: Engine, load: Load) -> dict[str, CheckResult]:
    engine.table("orders", ORDERS_SQL)
    engine.table("customers", "SELECT * FROM (VALUES (1), (2)) t(customer_id)")
    plan = compile_plan(load("orders.odcs.yaml"))
    return {r.check_id: r for r in run_checks(plan, "orders", engine.query)}


@pytest.mark.parametrize(
    ("check_id", "observed", "passed"),
    [
        (f"{P}.order_id.required", 0, True),
        (f"{P}.order_id.unique", 1, False),
        (f"{P}.order_id.primaryKey", 1, False),
        (f"{P}.order_id.pattern", 2, False),
        (f"{P}.customer_id.foreignKey", 2, False),
        (f"{P}.status.enum", 1, False),
        (f"{P}.amount.range", 1, False),
        (f"{P}.amount.nullValues", 20.0, False),  # percent, warning
        (f"{P}.currency.invalidValues", 1, False),  # validValues
        (f"{P}.email.invalidValues", 3, False),  # pattern
        (f"{P}.email.missingValues", 3, False),  # null, '' and 'n/a'
        (f"{P}.quantity.duplicateValues", 1, True),  # mustBeGreaterOrEqualTo 0
        (f"{P}.quantity.positive_quantity", 1, False),  # property-level sql rule
        (f"{P}.orders.rowCount", 5, True),  # mustBeBetween
        (f"{P}.customer_id+created_at.duplicateValues", 1, False),  # object-level, composite
        (f"{P}.orders.sql", 1, False),  # ${object} form, mustNotBeBetween
        (f"{P}.created_at.required", 0, True),
        (f"{P}.created_at.type", "timestamp[us]", True),
        (f"{P}.order_id.present", True, True),
    ],
)
def test_violation_caught_with_observed_value(
    results: dict[str, CheckResult], check_id: str, observed: object, passed: bool
) -> None:
    result = results[check_id]
    assert result.observed == observed
    assert result.passed is passed


def test_severity_percent_and_message(results: dict[str, CheckResult]) -> None:
    nulls = results[f"{P}.amount.nullValues"]
    assert nulls.severity is Severity.WARNING and not nulls.blocks_publish
    assert nulls.unit is Unit.PERCENT and nulls.failing_rows == 1
    assert nulls.threshold == Threshold(Operator.MUST_BE_LESS_OR_EQUAL_TO, 10)
    assert nulls.location == "schema[0].properties[3].quality[0]"
    assert nulls.message == f"{P}: amount nullValues = 20 %, must be <= 10"
    assert results[f"{P}.currency.invalidValues"].blocks_publish


def test_samples_only_for_failed_checks(results: dict[str, CheckResult]) -> None:
    unique = results[f"{P}.order_id.unique"]
    assert unique.sample_rows == ({"order_id": "bad", "n": 2},)
    fk = results[f"{P}.customer_id.foreignKey"]
    assert [r["customer_id"] for r in fk.sample_rows] == [3, 3]
    assert results[f"{P}.order_id.required"].sample_rows == ()
    assert len(results[f"{P}.email.invalidValues"].sample_rows) == 3


def test_one_aggregate_scan(engine: Engine, load: Load) -> None:
    engine.table(
        "events",
        "SELECT 'e' || i AS event_id, 'x' AS listener_email, 'L' || i AS listener_id, "
        "i::INTEGER AS seconds FROM range(10) t(i)",
    )
    contract = load("listening_events.odcs.yaml")
    plan = compile_plan(contract)
    library = [c for c in plan.checks if c.metric not in ("present", "type")]
    assert len(library) >= 5
    schema = engine.con.execute("SELECT * FROM events LIMIT 0").to_arrow_table().schema
    results = run_checks(plan, "events", engine.query, schema=schema)
    assert len(engine.statements) == 1
    assert engine.statements[0].count("FROM events") == 1
    assert all(r.passed for r in results), [r.message for r in results if not r.passed]
    engine.statements.clear()
    run_checks(plan, "events", engine.query)  # without a schema: one zero-row probe, then one scan
    assert len(engine.statements) == 2 and engine.statements[0].endswith("LIMIT 0")


def test_separate_queries_only_for_fk_and_what_cannot_fold(load: Load) -> None:
    """Counting sql rules and (on DuckDB) composite keys join the one scan; each keeps its own query for
    when that scan fails. Spark keeps composite keys apart (its row values count NULL parts differently)."""
    plan = compile_plan(load("orders.odcs.yaml"))
    compiled = compile_sql(plan, "orders")
    assert [q.check_id.rsplit(".", 1)[1] for q in compiled.queries] == ["foreignKey"]
    assert sorted(q.check_id.rsplit(".", 1)[1] for q in compiled.folded) == [
        "duplicateValues",
        "positive_quantity",
        "sql",
    ]
    assert {q.check_id for q in compiled.folded} <= {check_id for check_id, _ in compiled.measures}
    assert "positive_quantity" not in compiled.unfolded_sql and '"quantity" <= 0' in compiled.aggregate_sql
    spark = compile_sql(plan, "orders", dialect="spark")
    assert sorted(q.check_id.rsplit(".", 1)[1] for q in spark.queries) == ["duplicateValues", "foreignKey"]


def test_sql_rules_that_are_not_plain_counts_stay_apart(engine: Engine, load: Load) -> None:
    contract = load("listening_events.odcs.yaml")
    rules = [
        {"type": "sql", "query": "SELECT COUNT(*) FROM {object} e WHERE e.seconds > 0", "mustBe": 0},  # alias
        {"type": "sql", "query": "SELECT MAX(seconds) FROM {object}", "mustBeLessThan": 100},
        {"type": "sql", "query": "SELECT COUNT(*) FROM {object} WHERE seconds > (SELECT 1)", "mustBe": 0},
        {"type": "sql", "query": "SELECT COUNT(*) FROM {object} WHERE seconds > 3", "mustBe": 0},
    ]
    data = contract.model_dump(by_alias=True, exclude_none=True)
    data["schema"][0]["quality"].extend(rules)
    plan = compile_plan(OpenDataContractStandard.model_validate(data))
    compiled = compile_sql(plan, "events")
    assert len(compiled.queries) == 3 and len(compiled.folded) == 1
    engine.table("events", "SELECT 'e1' AS event_id, 'x' AS listener_email, 'L1' AS listener_id, 5 AS seconds")
    got = [r for r in run_checks(plan, "events", engine.query) if r.metric == "sql"]
    assert [r.observed for r in got] == [1, 5, 1, 1]


def test_one_scan_and_the_foreign_key_on_duckdb(engine: Engine, load: Load) -> None:
    engine.table("orders", ORDERS_SQL)
    engine.table("customers", "SELECT * FROM (VALUES (1), (2)) t(customer_id)")
    plan = compile_plan(load("orders.odcs.yaml"))
    schema = engine.con.execute("SELECT * FROM orders LIMIT 0").to_arrow_table().schema
    engine.statements.clear()
    run_checks(plan, "orders", engine.query, schema=schema, sample_limit=0)
    assert len(engine.statements) == 2  # the aggregate (sql rules and the composite key in it), the FK anti-join
    assert "GROUP BY" not in "".join(engine.statements)


def test_composite_primary_key_and_lengths(engine: Engine, load: Load) -> None:
    engine.table(
        "order_lines",
        """SELECT * FROM (VALUES
        ('O1', 1, 'ABC', 1.0, DATE '2021-01-01'), ('O1', 1, 'AB', 0.0, DATE '2019-05-01'),
        ('O2', 1, 'ABCDEFGHIJKLMN', 2.0, NULL), (NULL, 2, NULL, NULL, NULL)
        ) t(order_id, line_no, sku, unit_price, shipped_on)""",
    )
    engine.table("orders", "SELECT 'O1' AS order_id")
    plan = compile_plan(load("order_lines.odcs.yaml"))
    got = {r.check_id: r for r in run_checks(plan, "order_lines", engine.query)}
    p = "sales.orders.order_lines"
    assert got[f"{p}.order_id+line_no.primaryKey"].observed == 1
    assert got[f"{p}.order_id+line_no.primaryKey"].sample_rows == ({"order_id": "O1", "line_no": 1, "n": 2},)
    assert got[f"{p}.order_id.required"].observed == 1
    assert got[f"{p}.line_no.required"].observed == 0  # implied by the primary key
    assert got[f"{p}.sku.length"].observed == 2
    assert got[f"{p}.unit_price.range"].observed == 1  # exclusiveMinimum 0
    assert got[f"{p}.shipped_on.range"].observed == 1
    assert got[f"{p}.order_id.foreignKey"].observed == 1  # O2 has no order; NULL is not checked
    lines = got[f"{p}.order_lines.lines_per_order"]
    assert lines.observed == 2 and lines.passed and lines.severity is Severity.WARNING


def test_missing_column_fails_without_query(engine: Engine, load: Load) -> None:
    engine.table("orders", "SELECT 'O000001' AS order_id, 1 AS customer_id, 'x' AS extra_col")
    engine.table("customers", "SELECT 1 AS customer_id")
    plan = compile_plan(load("orders.odcs.yaml"))
    got = {r.check_id: r for r in run_checks(plan, "orders", engine.query)}
    assert not got[f"{P}.amount.present"].passed
    assert not got[f"{P}.amount.nullValues"].passed
    assert "missing" in got[f"{P}.amount.nullValues"].message
    assert not got[f"{P}.extra_col.undeclared"].passed
    assert got[f"{P}.customer_id.foreignKey"].passed


def test_broken_sql_rule_fails_only_itself(engine: Engine, load: Load) -> None:
    contract = load("listening_events.odcs.yaml")
    rule = {"type": "sql", "query": "SELECT COUNT(*) FROM {object} WHERE no_such_column > 0", "mustBe": 0}
    data = contract.model_dump(by_alias=True, exclude_none=True)
    data["schema"][0]["quality"].append(rule)
    plan = compile_plan(OpenDataContractStandard.model_validate(data))
    engine.table("events", "SELECT 'e1' AS event_id, 'x' AS listener_email, 'L1' AS listener_id, 5 AS seconds")
    got = run_checks(plan, "events", engine.query)
    failed = [r for r in got if not r.passed]
    assert [r.metric for r in failed] == ["sql"] and "could not run" in failed[0].message


def test_check_schema_types(load: Load) -> None:
    import pyarrow as pa

    contract = load("orders.odcs.yaml")
    schema = pa.schema(
        [
            ("order_id", pa.string()),
            ("customer_id", pa.int64()),
            ("status", pa.string()),
            ("amount", pa.decimal128(14, 2)),
            ("currency", pa.string()),
            ("email", pa.string()),
            ("quantity", pa.int64()),
            ("created_at", pa.timestamp("us")),
        ]
    )
    got = {r.check_id: r for r in check_schema(contract, schema)}
    assert not got[f"{P}.amount.type"].passed  # DECIMAL(14,2) does not fit DECIMAL(12,2)
    assert not got[f"{P}.quantity.type"].passed  # BIGINT data for an INTEGER column
    assert got[f"{P}.customer_id.type"].passed
    assert got[f"{P}.created_at.type"].passed


def test_plan_errors_are_located(load: Load) -> None:
    data = load("listening_events.odcs.yaml").model_dump(by_alias=True, exclude_none=True)
    data["schema"][0]["properties"][2]["quality"] = [{"metric": "invalidValues", "mustBe": 0}]
    with pytest.raises(PlanError, match=r"schema\[0\]\.properties\[2\]\.quality\[0\]"):
        compile_plan(OpenDataContractStandard.model_validate(data))


def test_spark_dialect_uses_anchored_rlike(load: Load) -> None:
    compiled = compile_sql(compile_plan(load("orders.odcs.yaml")), "orders", dialect="spark")
    assert "REGEXP_FULL_MATCH" not in compiled.aggregate_sql
    assert "RLIKE" in compiled.aggregate_sql and "'^(?:^O[0-9]{6}$)$'" in compiled.aggregate_sql


GOLDEN = Path(__file__).parent / "golden"


def _golden_text(load: Load, dialect: str) -> str:
    compiled = compile_sql(compile_plan(load("orders.odcs.yaml")), "orders", dialect=dialect)
    parts = [f"-- aggregate\n{compiled.aggregate_sql};"]
    parts += [f"-- {q.check_id}\n{q.sql};" for q in compiled.queries]
    parts += [f"-- {q.check_id} (in the aggregate; alone when it fails)\n{q.sql};" for q in compiled.folded]
    return "\n\n".join(parts) + "\n"


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_golden_sql(load: Load, dialect: str) -> None:
    path = GOLDEN / f"orders.{dialect}.sql"
    text = _golden_text(load, dialect)
    if not path.exists():  # writes the golden file once; review it, commit it, rerun
        path.write_text(text)
        pytest.fail(f"wrote {path}; review it and rerun")
    assert text == path.read_text()
