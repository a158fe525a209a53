"""Contract checks wired between the engines and the contracts layer, for builds and `meshplane test`."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from meshplane.build import CheckOutcome
from meshplane.contracts.plan import compile_plan
from meshplane.contracts.runner import CheckResult, run_checks
from meshplane.engines.base import Engine, Relation, StagedResult
from meshplane.spec import OutputPortSpec

__all__ = ["check_port", "to_outcome"]

# The relation name the staged or published table is bound to while its checks run.
CHECKED_RELATION = "__meshplane_checked"


def to_outcome(result: CheckResult) -> CheckOutcome:
    threshold = result.threshold.render() if result.threshold is not None else ""
    return CheckOutcome(
        rule_id=result.check_id,
        passed=result.passed,
        blocking=result.blocks_publish,
        message=result.message,
        metric=result.metric,
        column=result.column,
        observed=result.observed,
        threshold=threshold,
        severity=result.severity.value,
        sample=result.sample_rows,
    )


def check_port(
    port: OutputPortSpec, engine: Engine, relation: Relation, staged: StagedResult | None
) -> Sequence[CheckOutcome]:
    """Every schema and quality check of the port's contract, in as few engine scans as the plan allows."""
    plan = compile_plan(port.contract.odcs)
    relations = {CHECKED_RELATION: relation}

    def query(sql: str) -> pa.Table:
        return engine.query(sql, relations)

    results = run_checks(
        plan,
        CHECKED_RELATION,
        query,
        dialect=engine.capabilities.sql_dialect,
        schema=staged.schema if staged is not None else None,
    )
    return [to_outcome(r) for r in results]
