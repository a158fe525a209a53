"""Executable data contracts: ODCS v3 rules compiled to a check plan, then to one SQL scan per table.

- :mod:`.plan`: contract -> engine-neutral :class:`CheckPlan` (stable ids, locations)
- :mod:`.compile`: plan -> sqlglot trees -> SQL in the engine's dialect (one aggregate scan)
- :mod:`.runner`: run a plan through a caller's ``query_fn``; Arrow-schema checks
- :mod:`.interop`: export (odcs, jsonschema, sql-ddl, dbt) and import (ODCS, Data Contract Spec)

The names below are imported from their module on first use: reading a contract (``interop``) must not load
sqlglot's compiler for every CLI command that only compares contracts (``meshplane check``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshplane.contracts.compile import CompiledPlan, compile_sql
    from meshplane.contracts.interop import export_contract, import_contract, load_contract, validate_odcs
    from meshplane.contracts.plan import (
        Check,
        CheckKind,
        CheckPlan,
        Operator,
        PlanError,
        Threshold,
        Unit,
        compile_plan,
    )
    from meshplane.contracts.runner import CheckResult, QueryFn, check_schema, run_checks

_HOMES = {
    "CompiledPlan": "compile",
    "compile_sql": "compile",
    "export_contract": "interop",
    "import_contract": "interop",
    "load_contract": "interop",
    "validate_odcs": "interop",
    "Check": "plan",
    "CheckKind": "plan",
    "CheckPlan": "plan",
    "Operator": "plan",
    "PlanError": "plan",
    "Threshold": "plan",
    "Unit": "plan",
    "compile_plan": "plan",
    "CheckResult": "runner",
    "QueryFn": "runner",
    "check_schema": "runner",
    "run_checks": "runner",
}

__all__ = [
    "Check",
    "CheckKind",
    "CheckPlan",
    "CheckResult",
    "CompiledPlan",
    "Operator",
    "PlanError",
    "QueryFn",
    "Threshold",
    "Unit",
    "check_schema",
    "compile_plan",
    "compile_sql",
    "export_contract",
    "import_contract",
    "load_contract",
    "run_checks",
    "validate_odcs",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
