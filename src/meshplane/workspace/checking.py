"""Contract checks on a port's rows, shared by builds (before publish) and ``meshplane test``.

Foreign keys are bound to their target ports: the staged result of the same run when there is one, else
the target's published snapshot, an input port, or a source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.builds import CheckOutcome, PortCheck, PortChecker, table_id_for
from meshplane.builds.inputs import source_relation
from meshplane.contracts.plan import compile_plan
from meshplane.contracts.profile import PortProfile
from meshplane.contracts.runner import NOT_EXECUTED, CheckResult, check_and_profile
from meshplane.engines.base import ArrowRelation, Engine, FileRelation, Relation, StagedResult
from meshplane.graph import MeshGraph
from meshplane.spec import OutputPortSpec
from meshplane.types import Address
from meshplane.workspace.platform import Platform

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["CHECKED", "ContractChecker", "observed_number", "port_checker", "sensitive_columns", "to_outcome"]

CHECKED = "__meshplane_checked"
_MASKED_CLASSES = {"confidential", "pii", "restricted"}


@dataclass
class ContractChecker:
    graph: MeshGraph
    platform: Platform

    def port_relation(self, port: Address, staged: dict[Address, StagedResult]) -> Relation | None:
        """A port's rows: staged in this run, else its published snapshot (None: never published)."""
        result = staged.get(port)
        if result is not None:
            return FileRelation(paths=result.files) if result.files else ArrowRelation(result.schema.empty_table())
        spec = self.graph.ports[port]
        snapshot = self.platform.tables.current(table_id_for(port, spec.major))
        if snapshot is None:
            return None
        return (
            FileRelation(paths=snapshot.data_files)
            if snapshot.data_files
            else ArrowRelation(snapshot.schema.empty_table())
        )

    def _target_relation(self, port: Address, target: str, staged: dict[Address, StagedResult]) -> Relation | None:
        """A foreign key's target: a port address, a sibling port, or an input port of the product."""
        try:
            named = Address.parse(target)
        except ValueError:
            named = None
        if named is not None and named.port is not None and named in self.graph.ports:
            return self.port_relation(named, staged)
        sibling = Address(port.domain, port.product, target)
        if sibling in self.graph.ports:
            return self.port_relation(sibling, staged)
        for edge in self.graph.edges.get(port.product_address, ()):
            if edge.input.name == target:
                if edge.upstream_port is not None:
                    return self.port_relation(edge.upstream_port, staged)
                if edge.source is not None:
                    return source_relation(self.graph, edge.source)
        return None

    def check(
        self,
        port: Address,
        spec: OutputPortSpec,
        engine: Engine,
        relation: Relation,
        schema: pa.Schema | None,
        *,
        staged: dict[Address, StagedResult] | None = None,
        sample_limit: int = 5,
        metrics: Callable[[str], bool] | None = None,
    ) -> list[CheckResult]:
        """Every check of the port's contract on ``relation`` (those whose metric ``metrics`` keeps, when given);
        foreign keys read their target ports."""
        return self.check_and_profile(
            port, spec, engine, relation, schema, staged=staged, sample_limit=sample_limit, metrics=metrics
        )[0]

    def check_and_profile(
        self,
        port: Address,
        spec: OutputPortSpec,
        engine: Engine,
        relation: Relation,
        schema: pa.Schema | None,
        *,
        staged: dict[Address, StagedResult] | None = None,
        sample_limit: int = 5,
        metrics: Callable[[str], bool] | None = None,
        profile: bool = False,
    ) -> tuple[list[CheckResult], PortProfile | None]:
        """:meth:`check`, and with ``profile`` the port's profile from the same scan (sensitive columns by
        counts only)."""
        references: dict[str, str] = {}
        relations: dict[str, Relation] = {CHECKED: relation}
        for n, target in enumerate(sorted(_relationship_targets(spec.contract.odcs, spec.contract.table_index))):
            if target == spec.contract.table:
                references[target] = CHECKED
                continue
            bound = self._target_relation(port, target, staged or {})
            if bound is not None:
                references[target] = f"__meshplane_ref_{n}"
                relations[references[target]] = bound
        plan = compile_plan(spec.contract.odcs, table_index=spec.contract.table_index, references=references)
        if metrics is not None:  # an increment: row rules on the new rows, table rules on the whole table
            plan = dataclasses.replace(plan, checks=tuple(c for c in plan.checks if metrics(c.metric)))
        results, found = check_and_profile(
            plan,
            CHECKED,
            lambda sql: engine.query(sql, relations),
            dialect=engine.capabilities.sql_dialect,
            schema=schema,
            sample_limit=sample_limit,
            profile=profile,
            sensitive=sensitive_columns(spec),
        )
        return [_masked(spec, r) for r in results], found


def port_checker(graph: MeshGraph, platform: Platform) -> PortChecker:
    """The build's contract checker, with foreign keys bound to their target ports' published snapshots."""
    checker = ContractChecker(graph, platform)

    def check(
        spec: OutputPortSpec,
        engine: Engine,
        relation: Relation,
        staged: StagedResult | None,
        metrics: Callable[[str], bool] | None = None,
        *,
        profile: bool = False,
    ) -> PortCheck:
        results, found = checker.check_and_profile(
            spec.contract.address,
            spec,
            engine,
            relation,
            staged.schema if staged else None,
            metrics=metrics,
            profile=profile,
        )
        return PortCheck(tuple(to_outcome(r) for r in results), found.as_json() if found is not None else None)

    return check


def to_outcome(result: CheckResult) -> CheckOutcome:
    threshold = result.threshold.render() if result.threshold is not None else ""
    if not result.executed:
        threshold = NOT_EXECUTED
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


def _relationship_targets(contract: OpenDataContractStandard, table_index: int = 0) -> set[str]:
    """Table parts of the foreign keys of the port's table (``customers`` of ``customers.id``)."""
    objects = contract.schema_ or []
    if len(objects) <= table_index:
        return set()
    rels = [r for p in objects[table_index].properties or [] for r in p.relationships or []]
    rels += list(objects[table_index].relationships or [])
    targets: set[str] = set()
    for rel in rels:
        for ref in [rel.to] if isinstance(rel.to, str) else list(rel.to or []):
            if "/" not in ref and "." in ref:
                targets.add(ref.rpartition(".")[0])
    return targets


def sensitive_columns(spec: OutputPortSpec) -> frozenset[str]:
    """Columns whose values never leave a build: masked, or classified confidential and above. Failing-row
    samples show them as ``***``; profiles count their nulls and nothing else."""
    return frozenset(
        c.name
        for c in spec.contract.columns
        if c.mask is not None or (c.classification or "").lower() in _MASKED_CLASSES
    )


def _masked(spec: OutputPortSpec, result: CheckResult) -> CheckResult:
    """Failing-row samples never show sensitive columns (masked or classified confidential and above)."""
    hidden = sensitive_columns(spec)
    if not result.sample_rows or not hidden:
        return result
    rows = tuple(
        {k: ("***" if k in hidden and v is not None else v) for k, v in row.items()} for row in result.sample_rows
    )
    return CheckResult(
        result.check_id,
        result.kind,
        result.metric,
        result.column,
        result.observed,
        result.threshold,
        result.unit,
        result.passed,
        result.severity,
        result.failing_rows,
        rows,
        result.message,
        result.location,
    )
