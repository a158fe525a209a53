"""Quality use cases: `meshplane test`, SLO status and old major versions.

- :meth:`QualityService.test` checks every port contract on the published snapshot (or, ``staged``, on a
  fresh build of the transforms that is never published) and stores each rule's result with a run
  (trigger ``test``).
- :meth:`QualityService.status` evaluates the contracts' SLOs (:mod:`meshplane.contracts.slo`) from
  snapshot times and the catalog's run and check history, and stores the evaluations.
- :meth:`QualityService.diff` delegates to :mod:`meshplane.workspace.compatibility` (the breaking-change
  classification and gate).
- Old major versions keep their own table (``<product>__<port>__v<major>``) until the ``deprecationDate``
  custom property of the port's contract has passed; :meth:`QualityService.retire_expired_majors` drops them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.builds import table_id_for
from meshplane.builds.execute import python_transform
from meshplane.catalog import CheckResult as StoredCheck
from meshplane.catalog import RunStatus, SloEvaluation
from meshplane.contracts.plan import PlanError, Unit, compile_plan
from meshplane.contracts.runner import NOT_EXECUTED, CheckResult
from meshplane.contracts.slo import (
    ColumnCompleteness,
    PortHistory,
    RunSample,
    SloResult,
    evaluate_all,
    parse_slos,
    worst,
)
from meshplane.engines.base import ArrowRelation, Engine, FileRelation, Relation, StagedResult
from meshplane.engines.python_sandbox import PythonLimits
from meshplane.errors import BuildError, MeshError, UsageError
from meshplane.graph import MeshGraph
from meshplane.spec import OutputPortSpec, ProductSpec
from meshplane.storage import TableId
from meshplane.types import Address
from meshplane.workspace.checking import ContractChecker, observed_number
from meshplane.workspace.compatibility import (
    DEPRECATION_PROPERTY,
    CompatibilityService,
    PortDiff,
    json_safe,
    ports_of,
)
from meshplane.workspace.engine_choice import engine_for, make_engine, python_limits
from meshplane.workspace.platform import Platform

if TYPE_CHECKING:
    import pyarrow as pa

    from meshplane.workspace.edges import GovernedInputs

__all__ = [
    "OldMajor", "PortDiff", "PortStatus", "PortTest", "QualityService", "TestReport",
]  # fmt: skip

TEST_TRIGGER = "test"
_COMPLETENESS_METRICS = {"nullValues", "missingValues", "required"}


# --- test ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortTest:
    port: Address
    results: tuple[CheckResult, ...] = ()
    snapshot_id: int | None = None
    rows: int | None = None
    error: str | None = None
    run_id: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No error-severity failure (warnings are reported, never fail the test)."""
        return self.error is None and not any(r.blocks_publish for r in self.results)

    def as_json(self) -> dict[str, Any]:
        return {
            "port": str(self.port), "ok": self.ok, "run_id": self.run_id, "snapshot_id": self.snapshot_id,
            "rows": self.rows, "error": self.error, "seconds": round(self.seconds, 3),
            "results": [
                {"rule": r.check_id, "kind": r.kind.value, "metric": r.metric, "column": r.column,
                 "observed": json_safe(r.observed), "executed": r.executed,
                 "threshold": (r.threshold.render() if r.threshold else "") if r.executed else NOT_EXECUTED,
                 "unit": r.unit.value, "passed": r.passed, "severity": r.severity.value,
                 "failing_rows": r.failing_rows, "sample": json_safe(list(r.sample_rows)), "message": r.message,
                 "location": r.location}
                for r in self.results
            ],
        }  # fmt: skip


@dataclass(frozen=True)
class TestReport:
    ports: tuple[PortTest, ...]
    staged: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.ports)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "staged": self.staged,
            "seconds": round(self.seconds, 3),
            "ports": [p.as_json() for p in self.ports],
        }


# --- status ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OldMajor:
    """A table of an older major version of a port, still served until its deprecation date."""

    port: Address
    major: int
    table: TableId
    deprecation: date | None
    expired: bool
    last_publish: datetime | None = None


@dataclass(frozen=True)
class PortStatus:
    port: Address
    version: str
    results: tuple[SloResult, ...]
    last_publish: datetime | None
    old_majors: tuple[OldMajor, ...] = ()

    @property
    def status(self) -> str:
        return worst(r.status for r in self.results).value

    def as_json(self) -> dict[str, Any]:
        return {
            "port": str(self.port), "version": self.version, "status": self.status,
            "last_publish": self.last_publish.isoformat(timespec="seconds") if self.last_publish else None,
            "slos": [{"slo": r.slo.kind.value, "property": r.slo.name, "target": r.slo.target_text,
                      "element": r.slo.element, "status": r.status.value, "observed": r.observed,
                      "message": r.message, "evidence": json_safe(dict(r.evidence))} for r in self.results],
            "old_majors": [{"major": m.major, "table": str(m.table), "deprecation_date":
                            m.deprecation.isoformat() if m.deprecation else None, "expired": m.expired}
                           for m in self.old_majors],
        }  # fmt: skip


@dataclass
class QualityService:
    graph: MeshGraph
    platform: Platform
    inputs: GovernedInputs | None = None
    """Binds a staged test's inputs through the access decision, as a build does (``test(staged=True)``
    is refused without it: a transform never reads another product's port raw)."""

    @cached_property
    def checker(self) -> ContractChecker:
        return ContractChecker(self.graph, self.platform, self.inputs.reference if self.inputs is not None else None)

    def ports_of(self, products: Iterable[Address]) -> list[tuple[Address, OutputPortSpec]]:
        return ports_of(self.graph, products)

    # --- checking (test and builds) -------------------------------------------------------------------

    def test(
        self,
        products: Sequence[Address],
        *,
        staged: bool = False,
        engine: str | None = None,
        record: bool = True,
        sample_limit: int = 5,
    ) -> TestReport:
        """Check the selected products' ports; with ``staged``, on a fresh build that is never published."""
        started = time.perf_counter()
        choose = engine_for(self.graph, engine)
        engines: dict[str, Engine] = {}
        staged_results: dict[Address, StagedResult] = {}
        cleanup: list[tuple[TableId, str]] = []
        tests: list[PortTest] = []
        chosen = set(products)
        try:
            for address in (a for a in self.graph.order if a in chosen):
                product = self.graph.products[address]
                name = choose(product)
                if name not in engines:
                    engines[name] = make_engine(self.graph, name, self.platform.object_store)
                run_id = uuid.uuid4().hex[:12]
                if record:
                    self.platform.catalog.writer.start_run(
                        str(address), engine=name, trigger=TEST_TRIGGER, run_id=run_id
                    )
                found = self._test_product(
                    product, engines[name], run_id, staged, staged_results, cleanup, sample_limit
                )
                if record:
                    self._record(run_id, found)
                tests.extend(found)
        finally:
            for eng in engines.values():
                eng.close()
            for table, run_id in cleanup:
                self.platform.tables.cleanup_staging(table, run_id, timeout=60.0)
        return TestReport(tuple(tests), staged, time.perf_counter() - started)

    def _test_product(
        self,
        product: ProductSpec,
        engine: Engine,
        run_id: str,
        staged: bool,
        staged_results: dict[Address, StagedResult],
        cleanup: list[tuple[TableId, str]],
        sample_limit: int,
    ) -> list[PortTest]:
        found: list[PortTest] = []
        inputs: dict[str, Relation] | None = None
        for spec in product.output_ports:
            address = Address(product.address.domain, product.address.product, spec.name)
            started = time.perf_counter()
            try:
                if staged:
                    if inputs is None:
                        inputs = self._staged_inputs(product.address, staged_results)
                    table = table_id_for(address, spec.major)
                    cleanup.append((table, run_id))
                    result = _stage(
                        engine,
                        spec,
                        inputs,
                        self.platform.tables.staging_dir(table, run_id),
                        product.custom.get("dialect"),
                        python_limits(self.graph),
                    )
                    staged_results[address] = result
                    relation: Relation = (
                        FileRelation(paths=result.files) if result.files else ArrowRelation(result.schema.empty_table())
                    )
                    schema, rows, snapshot_id = result.schema, result.row_count, None
                else:
                    snapshot = self.platform.tables.current(table_id_for(address, spec.major))
                    if snapshot is None:
                        found.append(
                            PortTest(
                                address,
                                error=f"{address} v{spec.major} was never published: build "
                                f"it first (meshplane build {product.address}) or test with --staged",
                                run_id=run_id,
                            )
                        )
                        continue
                    relation = (
                        FileRelation(paths=snapshot.data_files)
                        if snapshot.data_files
                        else ArrowRelation(snapshot.schema.empty_table())
                    )
                    schema, rows, snapshot_id = snapshot.schema, snapshot.row_count, snapshot.snapshot_id
                results = self.checker.check(
                    address, spec, engine, relation, schema, staged=staged_results, sample_limit=sample_limit
                )
            except (MeshError, PlanError) as error:
                found.append(PortTest(address, error=str(error), run_id=run_id, seconds=time.perf_counter() - started))
                continue
            found.append(
                PortTest(address, tuple(results), snapshot_id, rows, None, run_id, time.perf_counter() - started)
            )
        return found

    def _staged_inputs(self, product: Address, staged: dict[Address, StagedResult]) -> dict[str, Relation]:
        """The product's inputs for a staged test: upstream ports through the access decision (as a build reads
        them), staged ones of this run only for their own team's products (:meth:`GovernedInputs.bind`)."""
        if self.inputs is None:
            raise BuildError(f"{product}: a staged test reads its inputs through the access decision; use Mesh.test")
        relations: dict[Address, Relation] = {
            port: FileRelation(paths=result.files) if result.files else ArrowRelation(result.schema.empty_table())
            for port, result in staged.items()
        }
        return self.inputs.bind(self.graph.products[product], relations)

    def _record(self, run_id: str, tests: Sequence[PortTest]) -> None:
        writer = self.platform.catalog.writer
        failed = [t for t in tests if not t.ok]
        errors = [t.error or f"{t.port}: {sum(r.blocks_publish for r in t.results)} check(s) failed" for t in failed]
        snapshots = ",".join(str(t.snapshot_id) for t in tests if t.snapshot_id is not None) or None
        writer.finish_run(
            run_id,
            RunStatus.FAILED if failed else RunStatus.SUCCESS,
            rows_written=sum(t.rows or 0 for t in tests),
            snapshot_id=snapshots,
            error="; ".join(errors) or None,
        )
        writer.record_check_results(run_id, [
            StoredCheck(rule_id=r.check_id, port=str(t.port), passed=r.passed, metric=r.metric, column=r.column,
                        observed=observed_number(r.observed),
                        threshold=(r.threshold.render() if r.threshold else "") if r.executed else NOT_EXECUTED,
                        severity=r.severity.value, sample=tuple(json_safe(list(r.sample_rows))))
            for t in tests for r in t.results
        ])  # fmt: skip

    # --- SLOs and old majors ------------------------------------------------------------------------

    def status(
        self,
        products: Sequence[Address],
        *,
        now: datetime | None = None,
        record: bool = True,
        window: timedelta = timedelta(days=30),
    ) -> list[PortStatus]:
        """Every port's SLOs: met, at risk or breached, with evidence; evaluations go to the catalog."""
        at = now or datetime.now(UTC)
        reader = self.platform.catalog.reader
        old = self.old_majors(at)
        statuses: list[PortStatus] = []
        for address, spec in self.ports_of(products):
            snapshots = [
                s for s in self.platform.tables.history(table_id_for(address, spec.major)) if s.timestamp <= at
            ]
            runs = [
                RunSample(r.ended_at or r.started_at, r.status is RunStatus.SUCCESS)
                for r in reader.runs(str(address.product_address), since=at - window, limit=500)
                if r.trigger != TEST_TRIGGER
                and r.started_at <= at
                and r.status in (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.INTERRUPTED)
            ]
            rows = snapshots[-1].row_count if snapshots else None
            history = PortHistory(
                at,
                tuple(s.timestamp for s in snapshots),
                tuple(runs),
                tuple(self._completeness(address, spec, rows)),
                rows,
            )
            results = evaluate_all(parse_slos(spec.contract.odcs.slaProperties or []), history)
            statuses.append(
                PortStatus(
                    address,
                    spec.version,
                    tuple(results),
                    history.last_publish,
                    tuple(m for m in old if m.port == address),
                )
            )
        if record:
            self.platform.catalog.writer.record_slo_evaluations([
                SloEvaluation(port=str(s.port), slo=r.slo.kind.value, status=r.status.value, observed=r.observed,
                              target=r.target, evaluated_at=at,
                              evidence=json_safe({**r.evidence, "message": r.message, "property": r.slo.name,
                                                   "element": r.slo.element}))
                for s in statuses for r in s.results
            ])  # fmt: skip
        return statuses

    def _completeness(self, port: Address, spec: OutputPortSpec, rows: int | None) -> list[ColumnCompleteness]:
        """Missing shares from the latest checked run's null / missing / required results."""
        stored = self.platform.catalog.reader.check_results(port=str(port), limit=2000)
        if not stored:
            return []
        latest = [c for c in stored if c.run_id == stored[0].run_id]
        try:
            units = {
                c.id: c.unit for c in compile_plan(spec.contract.odcs, table_index=spec.contract.table_index).checks
            }
        except PlanError:
            units = {}
        found: list[ColumnCompleteness] = []
        for c in latest:
            if c.metric not in _COMPLETENESS_METRICS or c.observed is None or not c.column:
                continue
            percent = units.get(c.rule_id) is Unit.PERCENT
            share = c.observed / 100.0 if percent else (c.observed / rows if rows else 0.0)
            found.append(ColumnCompleteness(c.column, min(1.0, share), c.rule_id))
        return found

    def old_majors(self, now: datetime | None = None, *, expired_only: bool = False) -> list[OldMajor]:
        """Tables of older major versions still in the store, with their deprecation dates (``expired_only``: of
        the ports whose deprecation date has passed; the store is not listed when there are none)."""
        at = now or datetime.now(UTC)
        ports = []
        for address, spec in sorted(self.graph.ports.items()):
            deprecation = _deprecation_date(spec)
            expired = deprecation is not None and at.date() > deprecation
            if spec.major and (expired or not expired_only):
                ports.append((address, spec, deprecation, expired))
        if not ports:
            return []
        tables = set(self.platform.tables.list_tables())
        found: list[OldMajor] = []
        for address, spec, deprecation, expired in ports:
            for major in range(spec.major):
                table = table_id_for(address, major)
                if table in tables:
                    current = self.platform.tables.current(table)
                    found.append(
                        OldMajor(address, major, table, deprecation, expired, current.timestamp if current else None)
                    )
        return found

    def retire_expired_majors(self, now: datetime | None = None) -> list[OldMajor]:
        """Stop serving old majors past their deprecation date (their Iceberg tables are dropped); every build
        asks, so a mesh without an expired deprecation date costs no listing of the store."""
        retired = self.old_majors(now, expired_only=True)
        for old in retired:
            self.platform.tables.catalog.drop_table(old.table.identifier)
            self.platform.catalog.writer.append_audit(
                "meshplane",
                "major_retired",
                str(old.port),
                {"major": old.major, "table": str(old.table), "deprecationDate": str(old.deprecation)},
            )
        return retired

    def read(self, port: Address, major: int) -> pa.Table:
        """The current rows of one major version of a port (old majors stay readable until retired)."""
        snapshot = self.platform.tables.current(table_id_for(port, major))
        if snapshot is None:
            raise UsageError(f"{port} has no published major version {major}")
        return self.platform.tables.read_arrow(snapshot)

    def diff(self, products: Sequence[Address], *, against: str = "published") -> list[PortDiff]:
        """Each port's contract against its published version or a git revision (see compatibility)."""
        return CompatibilityService(self.graph, self.platform).diff(products, against=against)


# --- helpers ---------------------------------------------------------------------------------------


def _deprecation_date(spec: OutputPortSpec) -> date | None:
    value = spec.contract.custom.get(DEPRECATION_PROPERTY)
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _stage(
    engine: Engine,
    spec: OutputPortSpec,
    inputs: dict[str, Relation],
    out_dir: Path,
    dialect: str | None = None,
    limits: PythonLimits | None = None,
) -> StagedResult:
    try:
        if spec.transform.language == "sql":
            return engine.stage_sql(spec.transform.code, inputs, out_dir, dialect=dialect)
        return engine.stage_python(python_transform(spec.transform, engine, limits), inputs, out_dir)
    except MeshError:
        raise
    except Exception as error:  # user SQL or Python failed: a located build error, not a traceback
        first = (str(error).strip().splitlines() or [""])[0]
        raise BuildError(f"{spec.transform.path}: the transform failed: {type(error).__name__}: {first}") from error
