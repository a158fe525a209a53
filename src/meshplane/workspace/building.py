"""Build use cases: plan, build, runs, and reading what a build published."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from meshplane.builds import (
    Builder,
    BuildEvents,
    BuildPlan,
    BuildResult,
    ProductOutcome,
    Status,
    plan_build,
    table_id_for,
)
from meshplane.builds.ordering import estimated_costs
from meshplane.engines.base import Engine
from meshplane.errors import NotFound, UsageError
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.storage import SnapshotInfo, SnapshotSummary, TableId
from meshplane.types import Address
from meshplane.workspace.engine_choice import engine_for, make_engine, python_limits
from meshplane.workspace.logs import log_event
from meshplane.workspace.platform import Platform

if TYPE_CHECKING:
    import pyarrow as pa

    from meshplane.catalog import RunRecord
    from meshplane.lineage.openlineage import LineageEmitter
    from meshplane.workspace.access import AccessService
    from meshplane.workspace.notifying import NotificationService

log = logging.getLogger(__name__)

__all__ = ["BuildService"]

# How long closing the mesh waits for OpenLineage events still queued (they are sent in the background while
# builds go on; a lineage server that does not answer delays only the process's exit, by at most this).
_LINEAGE_FLUSH_SECONDS = 15.0

# The catalog package (SQLAlchemy, Alembic) is imported where runs are written: planning needs none of it.


class _RecordingEvents:
    """Writes every run to the catalog, then forwards to the caller's progress display."""

    def __init__(
        self,
        platform: Platform,
        forward: BuildEvents | None,
        trigger: str,
        lineage: LineageEmitter | None = None,
        notifications: NotificationService | None = None,
    ) -> None:
        self.platform = platform
        self.forward = forward
        self.trigger = trigger
        self.lineage = lineage
        self.notifications = notifications

    def started(self, product: Address, run_id: str, engine: str) -> None:
        self.platform.catalog.writer.start_run(str(product), engine=engine, trigger=self.trigger, run_id=run_id)
        if self.lineage is not None:
            self.lineage.emit_build(product, run_id, "START", datetime.now(UTC), engine=engine)
        if self.forward:
            self.forward.started(product, run_id, engine)

    def finished(self, outcome: ProductOutcome) -> None:
        from meshplane.catalog import CheckResult, ProfileRecord, RunRecord, RunStatus
        from meshplane.lineage.redaction import redact  # on use: the lineage package imports sqlglot
        from meshplane.workspace.checking import observed_number  # on use: plan needs no contract checker

        statuses = {
            Status.SUCCESS: RunStatus.SUCCESS,
            Status.FAILED: RunStatus.FAILED,
            Status.SKIPPED: RunStatus.SKIPPED,
            Status.UP_TO_DATE: RunStatus.SKIPPED,  # nothing written: never a 0-row success
        }
        writer = self.platform.catalog.writer
        snapshot = ",".join(str(p.snapshot_id) for p in outcome.ports if p.snapshot_id is not None) or None
        if outcome.status is Status.UP_TO_DATE:
            snapshot = None  # another run published those snapshots
        if outcome.status is Status.SKIPPED and not outcome.run_id:
            # Never started (an upstream failed): still a row in the history, so `meshplane runs` says why.
            at = datetime.now(UTC)
            writer.record_run(
                RunRecord(
                    run_id=uuid.uuid4().hex[:12],
                    product=str(outcome.address),
                    status=RunStatus.SKIPPED,
                    started_at=at,
                    ended_at=at,
                    rows_written=0,
                    error=outcome.error,
                    engine=outcome.engine,
                    trigger=self.trigger,
                )
            )
        elif outcome.run_id:
            results = [
                CheckResult(
                    rule_id=c.rule_id,
                    port=str(port.port),
                    passed=c.passed,
                    metric=c.metric,
                    column=c.column,
                    observed=observed_number(c.observed),
                    threshold=c.threshold,
                    severity=c.severity,
                    sample=tuple(dict(row) for row in c.sample),
                )
                for port in outcome.ports
                for c in port.checks
            ]
            at = datetime.now(UTC)
            profiles = [
                ProfileRecord(str(port.port), outcome.run_id, at, int(port.profile.get("rows") or 0),
                              tuple(port.profile.get("columns") or ()))
                for port in outcome.ports
                if port.profile is not None and port.snapshot_id is not None and outcome.status is Status.SUCCESS
            ]  # fmt: skip
            # One transaction for the run's end, its check results and the published ports' profiles.
            writer.finish_run(
                outcome.run_id,
                statuses[outcome.status],
                rows_written=outcome.rows,
                snapshot_id=snapshot,
                error=outcome.error,
                check_results=results,
                ended_at=at,
                profiles=profiles,
            )
            if self.lineage is not None:
                _emit_finished(self.lineage, outcome)
            if self.notifications is not None and profiles:
                from meshplane.workspace.profiling import ProfileService

                try:
                    ProfileService(self.notifications.graph, self.platform).notify(
                        [p.port for p in profiles], outcome.run_id, self.notifications
                    )
                except Exception as error:  # judging the history must never fail the build it reports on
                    log.warning("anomalies of %s not judged: %s", outcome.address, error)
            if self.notifications is not None and outcome.status is Status.FAILED:
                from meshplane.workspace.notices import build_notices

                for notice in build_notices(self.notifications.graph, outcome):
                    self.notifications.emit(notice)
        log_event(
            "build",
            product=str(outcome.address),
            run_id=outcome.run_id,
            status=outcome.status.value,
            seconds=round(outcome.seconds, 3),
            rows=outcome.rows,
            engine=outcome.engine,
            trigger=self.trigger,
            refused=outcome.refused or None,
            error=redact(outcome.error) if outcome.error else None,
        )
        if self.forward:
            self.forward.finished(outcome)


def _emit_finished(lineage: LineageEmitter, outcome: ProductOutcome) -> None:
    """The run's terminal OpenLineage event: COMPLETE, FAIL, or ABORT when the build gate refused it."""
    from meshplane.lineage.openlineage import Assertion, RunState
    from meshplane.workspace.checking import observed_number

    state: RunState = "COMPLETE" if outcome.status.published else "ABORT" if outcome.refused else "FAIL"
    assertions = [
        Assertion(
            port=str(port.port),
            rule_id=c.rule_id,
            success=c.passed,
            metric=c.metric,
            column=c.column,
            severity=c.severity,
            expected=c.threshold,
            actual="" if observed_number(c.observed) is None else str(observed_number(c.observed)),
        )
        for port in outcome.ports
        for c in port.checks
    ]
    rows = {str(port.port): port.rows for port in outcome.ports}
    lineage.emit_build(
        outcome.address,
        outcome.run_id,
        state,
        datetime.now(UTC),
        engine=outcome.engine,
        error=outcome.error,
        assertions=assertions,
        rows=rows,
    )


def _concurrent(plan: BuildPlan, jobs: int) -> int:
    """How many products of ``plan`` build at once, at most."""
    return min(max(1, jobs), max(1, len(plan.items)))


@dataclass
class BuildService:
    graph: MeshGraph
    platform: Platform
    # Engines by name and concurrency, kept warm across the builds of this workspace (a scheduler builds many
    # times) and closed with it: making a DuckDB engine and closing it cost a tenth of a small append build.
    _engines: dict[tuple[str, int], Engine] = field(default_factory=dict, init=False, repr=False)
    _engines_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _preparing: list[threading.Thread] = field(default_factory=list, init=False, repr=False)

    @cached_property
    def notifications(self) -> NotificationService:
        from meshplane.workspace.notifying import NotificationService

        return NotificationService(self.graph, self.platform)

    @cached_property
    def lineage(self) -> LineageEmitter | None:
        """The OpenLineage emitter when a transport is configured (None: nothing is imported or sent)."""
        import importlib.util

        from meshplane.lineage.openlineage import LineageEmitter, lineage_configured

        if not lineage_configured(self.graph):
            return None
        if importlib.util.find_spec("openlineage.client") is None:
            hint = "openlineage-python is not installed: pip install 'meshplane[openlineage]'"
            if self.graph.spec.config.openlineage is not None:
                raise UsageError(f"mesh.yaml configures openlineage: but {hint}")
            # Only OPENLINEAGE_* variables (perhaps set for another tool): build without lineage, say why.
            log.warning("OPENLINEAGE_* variables are set but %s; builds send no lineage", hint)
            return None
        return LineageEmitter(self.graph)

    def engine_for(self, override: str | None) -> Callable[[ProductSpec], str]:
        return engine_for(self.graph, override)

    def make_engine(self, name: str, *, concurrent: int = 1) -> Engine:
        return make_engine(self.graph, name, self.platform.object_store, self.platform.warehouse, concurrent=concurrent)

    def engine(self, name: str, *, concurrent: int = 1) -> Engine:
        """The workspace's engine ``name`` for builds of ``concurrent`` products at once, made on first use and
        closed by :meth:`close`."""
        with self._engines_lock:
            if (name, concurrent) not in self._engines:
                self._engines[name, concurrent] = self.make_engine(name, concurrent=concurrent)
            return self._engines[name, concurrent]

    def current(self, port: Address, major: int | None = None) -> SnapshotInfo | None:
        spec = self.graph.ports.get(port)
        if spec is None:
            raise NotFound(f"no port {port}")
        return self.platform.tables.current(table_id_for(port, major if major is not None else spec.major))

    def _lookup(self, port: Address, major: int) -> dict[str, str] | None:
        snapshot = self.platform.tables.current(table_id_for(port, major))
        if snapshot is None:
            return None
        return {**snapshot.properties, "meshplane.snapshot": str(snapshot.snapshot_id)}

    def plan(
        self, selected: Sequence[Address], *, full_refresh: bool = False, force: bool = False, engine: str | None = None
    ) -> BuildPlan:
        # One catalog query answers every port the plan compares: the selected products' own ports and
        # the upstream ports they read.
        tables: dict[tuple[Address, int], TableId] = {}
        for address in selected:
            product = self.graph.products[address]
            for port in product.output_ports:
                out = Address(address.domain, address.product, port.name)
                tables[out, port.major] = table_id_for(out, port.major)
            for edge in self.graph.edges[address]:
                if edge.upstream_port is not None and edge.upstream_port in self.graph.ports:
                    major = self.graph.ports[edge.upstream_port].major
                    tables[edge.upstream_port, major] = table_id_for(edge.upstream_port, major)
        summaries: dict[TableId, SnapshotSummary | None]
        if self.platform.never_published():
            summaries = dict.fromkeys(tables.values())
        else:
            summaries = self.platform.tables.summaries(tables.values())

        def lookup(port: Address, major: int) -> dict[str, str] | None:
            table = tables.get((port, major))
            if table is None:
                return self._lookup(port, major)
            summary = summaries[table]
            if summary is None:
                return None
            return {**summary.properties, "meshplane.snapshot": str(summary.snapshot_id)}

        return plan_build(
            self.graph, selected, lookup, engine_for=self.engine_for(engine), full_refresh=full_refresh, force=force
        )

    def prepare(self, plan: BuildPlan, jobs: int = 1) -> None:
        """Make the engines ``plan`` will use now, in the background (a DuckDB engine starts its transforms'
        child processes): their start-up overlaps the work before the first product builds (gates, sync)."""
        names = sorted({item.engine for item in plan.items})
        if not names:
            return

        def make() -> None:
            for name in names:
                with contextlib.suppress(Exception):  # the build makes it again and reports why it fails
                    self.engine(name, concurrent=_concurrent(plan, jobs))

        thread = threading.Thread(target=make, name="meshplane-build-engines", daemon=True)
        self._preparing[:] = [*(t for t in self._preparing if t.is_alive()), thread]
        thread.start()

    def build(
        self,
        plan: BuildPlan,
        *,
        jobs: int = 1,
        events: BuildEvents | None = None,
        gate: Callable[[ProductSpec], None] | None = None,
        trigger: str = "manual",
        lock_timeout: float = 600.0,
        access: AccessService,
    ) -> BuildResult:
        """Run ``plan``; a product another process is building is waited for up to ``lock_timeout`` seconds."""
        from meshplane.workspace.checking import port_checker
        from meshplane.workspace.edges import GovernedInputs

        writer = self.platform.catalog.writer
        writer.mark_interrupted_runs()
        inputs = GovernedInputs(self.graph, access)
        builder = Builder(
            graph=self.graph,
            store=self.platform.tables,
            engine_factory=functools.partial(self.engine, concurrent=_concurrent(plan, jobs)),
            checker=port_checker(self.graph, self.platform, inputs.reference),
            inputs=inputs,
            python_limits=python_limits(self.graph),
            gate=gate or (lambda product: None),
            events=_RecordingEvents(self.platform, events, trigger, self.lineage, self.notifications),
            lock_timeout=lock_timeout,
            costs=self._expected_costs,
        )
        return builder.run(plan, jobs=jobs)

    def _expected_costs(self, plan: BuildPlan) -> dict[Address, float]:
        """Each planned product's expected seconds, for the order a parallel build starts them in."""
        from meshplane.catalog import RunStatus

        def last_seconds(products: list[Address]) -> dict[Address, float]:
            runs = self.platform.catalog.reader.runs_of(
                [str(a) for a in products], per_product=1, status=RunStatus.SUCCESS
            )
            by_name = {str(a): a for a in products}
            return {by_name[name]: (last[0].ended_at - last[0].started_at).total_seconds()
                    for name, last in runs.items() if last and last[0].ended_at is not None}  # fmt: skip

        return estimated_costs(plan, self.graph, last_seconds)

    def close(self) -> None:
        """Close the engines; send the OpenLineage events still queued (bounded wait)."""
        for thread in self._preparing:  # an engine made after the close below would never be closed
            thread.join()
        self._preparing.clear()
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            engine.close()
        lineage = self.__dict__.pop("lineage", None)
        if lineage is not None:
            lineage.close(timeout=_LINEAGE_FLUSH_SECONDS)

    def runs(self, product: str | None = None, limit: int = 50) -> list[RunRecord]:
        if product is not None and not any(str(a) == product for a in self.graph.products):
            known = sorted(str(a) for a in self.graph.products)
            listed = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise NotFound(f"no product {product!r} in this mesh (products: {listed})")
        return self.platform.catalog.reader.runs(product=product, limit=limit)

    def read(self, port: Address, *, snapshot_id: int | None = None, as_of: datetime | None = None) -> pa.Table:
        """The rows of a published port (owner view, no masking): current, by snapshot id or as of a time."""
        spec = self.graph.ports.get(port)
        if spec is None:
            raise NotFound(f"no port {port}")
        table_id = table_id_for(port, spec.major)
        if snapshot_id is None and as_of is None and self.platform.tables.current(table_id) is None:
            product = port.product_address
            last = next(iter(self.platform.catalog.reader.runs(product=str(product), limit=1)), None)
            why = f"; its last build {last.status.value}: {last.error}" if last is not None and last.error else ""
            raise NotFound(f"{port} has not been published yet: build it first (meshplane build +{product}){why}")
        snapshot = self.platform.tables.snapshot(table_id, snapshot_id=snapshot_id, as_of=as_of)
        return self.platform.tables.read_arrow(snapshot)
