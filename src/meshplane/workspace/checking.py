"""Check results of the contracts layer as builds report them and the catalog stores them."""

from __future__ import annotations

from decimal import Decimal

from meshplane.builds import CheckOutcome
from meshplane.contracts.runner import CheckResult

__all__ = ["observed_number", "to_outcome"]


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


def observed_number(value: object) -> float | None:
    """Observed values come back as bool, int, float or Decimal (DuckDB sums); the catalog stores floats."""
    if isinstance(value, bool | int | float | Decimal):
        return float(value)
    return None
