"""Executable data contracts: ODCS v3 rules compiled to a check plan, then to one SQL scan per table.

- :mod:`.plan`: contract -> engine-neutral :class:`CheckPlan` (stable ids, locations)
- :mod:`.compile`: plan -> sqlglot trees -> SQL in the engine's dialect (one aggregate scan)
- :mod:`.runner`: run a plan through a caller's ``query_fn``; Arrow-schema checks
- :mod:`.interop`: export (odcs, jsonschema, sql-ddl, dbt) and import (ODCS, Data Contract Spec)
"""

from meshplane.contracts.compile import CompiledPlan, compile_sql
from meshplane.contracts.interop import export_contract, import_contract, load_contract, validate_odcs
from meshplane.contracts.plan import Check, CheckKind, CheckPlan, Operator, PlanError, Threshold, Unit, compile_plan
from meshplane.contracts.runner import CheckResult, QueryFn, check_schema, run_checks

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
