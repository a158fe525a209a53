"""Contract checks: the compiled check plan runs through ``engine.query`` in the engine's own dialect.

This is what a build does on the staged result (``workspace/checking.py``): the same verdicts, observed
values and samples on every engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.contracts.plan import compile_plan
from meshplane.contracts.runner import CheckResult, run_checks
from meshplane.engines import Engine
from meshplane.engines.base import FileRelation

from .helpers import parquet

CONTRACTS = Path(__file__).parents[2] / "contracts" / "fixtures"
# Five orders with every kind of defect the orders contract checks for (tests/contracts/contract_helpers.py).
ORDERS_SQL = """
SELECT * FROM (VALUES
 ('O000001', 1, 'placed',  10.00::DECIMAL(12,2), 'EUR', 'a@b.c', 1, TIMESTAMP '2024-01-01'),
 ('O000002', 2, 'shipped', NULL,                 'XXX', 'n/a',   1, TIMESTAMP '2024-01-02'),
 ('bad',     3, 'lost',    -5,                   'USD', 'ab',   -1, TIMESTAMP '2024-01-02'),
 ('bad',     3, 'placed',  5,                    'USD', '',      2, TIMESTAMP '2024-01-02'),
 ('O000005', 1, NULL,      7,                    NULL,  NULL,    3, TIMESTAMP '2024-01-05')
) t(order_id, customer_id, status, amount, currency, email, quantity, created_at)
"""
CHECKED = "__meshplane_checked"


def verdicts(results: list[CheckResult]) -> dict[str, tuple[bool, Any, int | None]]:
    return {r.check_id: (r.passed, r.observed, r.failing_rows) for r in results}


@pytest.fixture
def orders(tmp_path: Path) -> FileRelation:
    return parquet(tmp_path / "orders.parquet", ORDERS_SQL)


@pytest.fixture
def contract() -> OpenDataContractStandard:
    return OpenDataContractStandard.from_file(str(CONTRACTS / "orders.odcs.yaml"))


def run(engine: Engine, contract: OpenDataContractStandard, relation: FileRelation) -> list[CheckResult]:
    plan = compile_plan(contract)
    return run_checks(
        plan, CHECKED, lambda sql: engine.query(sql, {CHECKED: relation}), dialect=engine.capabilities.sql_dialect
    )


def test_checks_agree_with_duckdb(
    engine: Engine, duckdb_engine: Engine, contract: OpenDataContractStandard, orders: FileRelation
) -> None:
    expected = verdicts(run(duckdb_engine, contract, orders))
    got = verdicts(run(engine, contract, orders))
    assert got.keys() == expected.keys()
    # The foreign key's target table does not exist here: both engines fail it, with their own message.
    assert {k: v for k, v in got.items() if "foreignKey" not in k} == {
        k: v for k, v in expected.items() if "foreignKey" not in k
    }
    failed = {k.split(".", 3)[-1] for k, (passed, _, _) in got.items() if not passed}
    assert {"order_id.unique", "order_id.pattern", "currency.invalidValues", "quantity.positive_quantity"} <= failed


def test_failing_checks_carry_samples(engine: Engine, contract: OpenDataContractStandard, orders: FileRelation) -> None:
    results = {r.check_id.split(".", 3)[-1]: r for r in run(engine, contract, orders)}
    unique = results["order_id.unique"]
    assert not unique.passed and unique.sample_rows
    assert {row["order_id"] for row in unique.sample_rows} == {"bad"}
    assert all(not r.sample_rows for r in results.values() if r.passed)


def test_checks_on_a_staged_result(
    engine: Engine, contract: OpenDataContractStandard, orders: FileRelation, tmp_path: Path
) -> None:
    """Write, audit: a transform's staged files are checked before anything is published."""
    sql = "select * from orders where order_id like 'O%' and currency is not null and currency <> 'XXX'"
    staged = engine.stage_sql(sql, {"orders": orders}, tmp_path / "staged")
    plan = compile_plan(contract)
    relation = FileRelation(paths=staged.files)
    results = run_checks(
        plan,
        CHECKED,
        lambda q: engine.query(q, {CHECKED: relation}),
        dialect=engine.capabilities.sql_dialect,
        schema=staged.schema,
    )
    blocking = [r.check_id for r in results if r.blocks_publish and "foreignKey" not in r.check_id]
    assert blocking == []


def test_empty_result_fails_row_count(
    engine: Engine, contract: OpenDataContractStandard, orders: FileRelation, tmp_path: Path
) -> None:
    staged = engine.stage_sql("select * from orders where false", {"orders": orders}, tmp_path / "staged")
    relation = FileRelation(paths=staged.files)
    results = run_checks(
        compile_plan(contract),
        CHECKED,
        lambda q: engine.query(q, {CHECKED: relation}),
        dialect=engine.capabilities.sql_dialect,
        schema=staged.schema,
    )
    by_metric = {r.check_id.split(".", 3)[-1]: r for r in results}
    assert not by_metric["orders.rowCount"].passed and by_metric["orders.rowCount"].observed == 0
