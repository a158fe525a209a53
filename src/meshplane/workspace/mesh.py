"""The Mesh facade: opens a mesh folder and offers every use case, delegating to the layers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from meshplane.errors import MeshError, NotFound, SpecError, UsageError
from meshplane.graph import MeshGraph, SelectorError, select
from meshplane.spec import MeshSpec
from meshplane.types import Address, Problem
from meshplane.workspace.loading import CheckReport, check_mesh
from meshplane.workspace.logs import log_event

if TYPE_CHECKING:
    import pyarrow as pa
    from open_data_contract_standard.model import OpenDataContractStandard

    from meshplane.builds import BuildEvents, BuildPlan, BuildResult
    from meshplane.builds.schedule import DueProduct
    from meshplane.catalog import ProfileRecord, RunRecord
    from meshplane.contracts.anomalies import Anomaly
    from meshplane.spec import ProductSpec
    from meshplane.storage.relocate import Relocation
    from meshplane.workspace.access import AccessService, Connection
    from meshplane.workspace.building import BuildService
    from meshplane.workspace.discovery import DiscoveryService
    from meshplane.workspace.governing import GovernanceService
    from meshplane.workspace.lifecycle import LifecycleService, MaintenanceReport
    from meshplane.workspace.notifying import DeliveryReport, NotificationService
    from meshplane.workspace.platform import Platform
    from meshplane.workspace.profiling import ProfileService
    from meshplane.workspace.quality import PortDiff, PortStatus, QualityService, TestReport
    from meshplane.workspace.workbench import Workbench

log = logging.getLogger(__name__)
# A scheduled tick that found nothing the product reads changed is recorded as a skipped run with this note.
UP_TO_DATE_NOTE = "up to date: nothing it reads changed since its last build"

__all__ = ["CheckReport", "Mesh", "check_mesh"]

# The services below are imported where first used, not at module level: opening a mesh for `check` or
# `plan` must not pay for SQLAlchemy, DuckDB and the policy engine. They never import this module back
# (the import-linter contract "Workspace services depend one way" holds them to it).


def _only_external(report: CheckReport) -> bool:
    """Every error is in another repository's published domain (a domain repository's copy of it)."""
    from meshplane.workspace.isolation import domain_of_problem

    external = report.spec.external_domains if report.spec is not None else frozenset()
    return bool(external) and all(domain_of_problem(report.root, p) in external for p in report.errors)


class Mesh:
    """An opened, valid mesh. Use :func:`meshplane.open_mesh` to get one."""

    def __init__(self, graph: MeshGraph, blocked: Mapping[str, tuple[Problem, ...]] | None = None) -> None:
        self.graph = graph
        # Domains (by name) and products (by address) left out because of spec errors: see :meth:`open`.
        self.blocked: Mapping[str, tuple[Problem, ...]] = blocked or {}

    @classmethod
    def open(cls, path: str | Path, *, isolate: bool = False) -> Mesh:
        """Open a valid mesh; any spec error raises SpecError with every problem.

        With ``isolate``, errors inside one domain's files block only that domain and the products that
        read it: the mesh opens with the healthy rest (``blocked`` says what was left out and why), and
        selecting something blocked raises SpecError with its problems. Mesh-wide errors still raise.
        """
        report = check_mesh(path)
        if report.ok and report.graph is not None:
            return cls(report.graph)
        if report.spec is not None and (isolate or _only_external(report)):
            from meshplane.workspace.isolation import isolate as isolated

            healthy = isolated(report.spec, report.problems)
            if healthy is not None:
                # Another repository's broken domain is that repository's to fix: here it only blocks readers.
                external = report.spec.external_domains
                blocked = {k: v for k, v in healthy.blocked.items() if k.split(".")[0] not in external}
                return cls(healthy.graph, blocked)
        raise SpecError(report.errors)

    @property
    def spec(self) -> MeshSpec:
        return self.graph.spec

    @property
    def root(self) -> Path:
        return self.spec.root

    @property
    def name(self) -> str:
        return self.spec.config.name

    def select(self, selectors: list[str] | None) -> list[Address]:
        if self.blocked and selectors:
            self._refuse_blocked(selectors)
        try:
            chosen = select(self.graph, selectors)
        except SelectorError as error:
            raise UsageError(str(error)) from None
        external = self.spec.external_domains
        if not external:
            return chosen
        # Other repositories' domains are read here, never built, tested or published from here.
        named = {s.strip("+").split(".")[0] for s in selectors or ()}
        if named & external:
            raise UsageError(
                f"{', '.join(sorted(named & external))}: published from another repository; run this there"
            )
        return [a for a in chosen if a.domain not in external]

    def _refuse_blocked(self, selectors: list[str]) -> None:
        """A selector naming a blocked domain or product raises its spec problems (nothing else is built)."""
        problems: list[Problem] = []
        for selector in selectors:
            name = selector.strip("+")
            domain = name.split(".")[0]
            for key, found in self.blocked.items():
                if key in (domain, name) or (key.startswith(name + ".") and "." not in name):
                    problems.extend(p for p in found if p not in problems)
        if problems:
            raise SpecError(problems)

    # --- state --------------------------------------------------------------------------------

    @cached_property
    def platform(self) -> Platform:
        from meshplane.workspace.platform import Platform

        return Platform(self.spec)

    @cached_property
    def builds(self) -> BuildService:
        from meshplane.workspace.building import BuildService

        return BuildService(self.graph, self.platform)

    def close(self) -> None:
        if "builds" in self.__dict__:
            self.builds.close()
        if "access" in self.__dict__:
            self.access.close()
        if "platform" in self.__dict__:
            self.platform.close()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- build ----------------------------------------------------------------------------------

    def plan(
        self,
        selectors: list[str] | None = None,
        *,
        full_refresh: bool = False,
        force: bool = False,
        engine: str | None = None,
    ) -> BuildPlan:
        """What a build would do now, and why (empty when everything selected is up to date). ``force`` plans
        every selected product; ``full_refresh`` also rebuilds append ports whole instead of appending."""
        return self.builds.plan(self.select(selectors), full_refresh=full_refresh, force=force, engine=engine)

    def build(
        self,
        selectors: list[str] | None = None,
        *,
        full_refresh: bool = False,
        jobs: int = 1,
        engine: str | None = None,
        events: BuildEvents | None = None,
        gate: Callable[[ProductSpec], None] | None = None,
        as_user: str | None = None,
        raise_on_failure: bool = False,
    ) -> BuildResult:
        """Build the stale selected products in dependency order: write, audit, publish.

        The result is falsy when a product failed and prints which and why; ``raise_on_failure`` raises
        BuildError instead."""
        plan = self.plan(selectors, full_refresh=full_refresh, engine=engine)
        result = self.build_plan(plan, jobs=jobs, events=events, gate=gate, as_user=as_user)
        return result.raise_for_failures() if raise_on_failure else result

    def build_plan(
        self,
        plan: BuildPlan,
        *,
        jobs: int = 1,
        events: BuildEvents | None = None,
        gate: Callable[[ProductSpec], None] | None = None,
        trigger: str = "manual",
        as_user: str | None = None,
    ) -> BuildResult:
        """Execute a plan made by :meth:`plan` (the CLI shows the plan's products while they build).

        The gates compare against what the catalog published before this build; the specs are synced only
        when no port breaks its consumers without a major version, so a blocked change stays blocked.
        """
        from meshplane.workspace.compatibility import breaking_problems, published_diffs
        from meshplane.workspace.gates import build_gates

        self.builds.prepare(plan, jobs)
        diffs = published_diffs(self.graph, self.platform)  # one comparison for gate, sync and notifications
        breaking = breaking_problems(self.graph, diffs)
        products = [item.address for item in plan.items]
        gates = build_gates(self.access, self.governance, breaking, as_user=as_user, extra=gate, products=products)
        if not breaking:
            # The planned products' contracts become the published baseline only once their build published.
            self.publish(checked=True, held_back=products)
        self.quality.retire_expired_majors()
        result = self.builds.build(plan, jobs=jobs, events=events, gate=gates, trigger=trigger, access=self.access)
        refused: list[Address] = []
        if not breaking and products:
            refused = [o.address for o in result.outcomes if not o.status.published]
            self.publish(checked=True, held_back=refused)
        if any(d.breaking for d in diffs):
            self._tell_breaking_changes(diffs, baseline_kept=set(refused) if not breaking else set(self.graph.products))
        published = [o.address for o in result.outcomes if o.status.value == "success"]
        if published:
            # Each build ends with the contract's retention: expired rows go in a snapshot of their own.
            for done in self.lifecycle.enforce_retention(published):
                if done.error is not None:
                    log.warning("retention of %s failed: %s", done.port, done.error)
        return result

    def _tell_breaking_changes(self, diffs: list[PortDiff], *, baseline_kept: set[Address]) -> None:
        """Consumers hear of breaking changes: proposed (blocked) at once; published once the catalog took the
        new contract as its baseline (not for products in ``baseline_kept``, whose build did not publish)."""
        from meshplane.workspace.notices import breaking_notices

        for notice in breaking_notices(self.notifications, diffs):
            product = Address.parse(notice.subject).product_address
            if notice.kind.value == "breaking_change_proposed" or product not in baseline_kept:
                self.notifications.emit(notice)

    @property
    def notifications(self) -> NotificationService:
        """Emit (``mesh.notifications.emit(notice)``), deliver and read inboxes (workspace/notifying.py)."""
        return self.builds.notifications

    def deliver_notifications(self, now: datetime | None = None, *, scan: bool = True) -> DeliveryReport:
        """One round: scan for time-based events (``scan``), then attempt every delivery that is due."""
        if scan:
            from meshplane.workspace.reminders import scan as scan_reminders

            scan_reminders(self.notifications, now, last_built=self.last_built)
        return self.notifications.deliver(now)

    def run_deliverer(
        self,
        *,
        interval: float = 5.0,
        scan_every: float = 300.0,
        stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        """Deliver due notifications every ``interval`` seconds (scanning every ``scan_every``) until ``stop()``."""
        last_scan = float("-inf")
        while not stop():
            scan = time.monotonic() - last_scan >= scan_every
            if scan:
                last_scan = time.monotonic()
            try:
                self.deliver_notifications(scan=scan)
            except MeshError as error:  # e.g. the catalog is briefly unreachable: try again next round
                log.warning("notification delivery round failed: %s", error)
            if stop():
                break
            sleep(interval)

    def last_built(self, product: Address) -> datetime | None:
        """When the product was last known current (None: never fully built): its oldest current port snapshot's
        commit, or a later scheduled tick that found nothing it reads changed since (see :meth:`plan_due`)."""
        from meshplane.catalog import RunStatus

        times = []
        for port in self.graph.products[product].output_ports:
            snapshot = self.builds.current(Address(product.domain, product.product, port.name))
            if snapshot is None:
                return None
            times.append(snapshot.timestamp)
        built = min(times) if times else None
        if built is None or self.graph.products[product].schedule is None:
            return built
        skipped = self.platform.catalog.reader.runs(str(product), status=RunStatus.SKIPPED, since=built, limit=20)
        checked = [r.started_at for r in skipped if r.trigger == "schedule" and r.error == UP_TO_DATE_NOTE]
        return max([built, *checked])

    def plan_due(self, now: datetime | None = None) -> tuple[list[DueProduct], BuildPlan]:
        """The scheduled products whose cron ticked since their last build, and the plan of those among them
        that are stale. A due product whose sources (file states, PostgreSQL content fingerprints), inputs,
        transform and contract have not changed since its last build is up to date: it is not rebuilt (its
        append ports append when a source did change), and a skipped run records that this tick found it
        current, so it is neither due again nor overdue until its next tick."""
        from meshplane.builds.schedule import due_products

        moment = now or datetime.now(UTC)
        due = due_products(self.graph, self.last_built, moment)
        return due, self._plan_due([d.address for d in due], moment)

    def _plan_due(self, due: list[Address], now: datetime) -> BuildPlan:
        import uuid

        from meshplane.builds import BuildPlan
        from meshplane.catalog import RunRecord, RunStatus

        if not due:
            return BuildPlan((), ())
        plan = self.plan([str(a) for a in due])
        stale = {item.address for item in plan.items}
        fresh = [a for a in due if a not in stale]
        for address in fresh:
            self.platform.catalog.writer.record_run(
                RunRecord(run_id=uuid.uuid4().hex[:12], product=str(address), status=RunStatus.SKIPPED,
                          started_at=now, ended_at=now, rows_written=0, error=UP_TO_DATE_NOTE, trigger="schedule")
            )  # fmt: skip
        if fresh:
            log_event("scheduled_up_to_date", products=[str(a) for a in fresh])
        return plan

    def run_due(self, now: datetime | None = None) -> BuildResult | None:
        """Build every scheduled product whose cron ticked since its last build (once, however many ticks) and
        whose sources or inputs changed since; None when nothing was due or everything due is up to date."""
        _, plan = self.plan_due(now)
        if not plan:
            return None
        return self.build_plan(plan, trigger="schedule")

    def run_scheduler(
        self,
        *,
        interval: float = 30.0,
        stop: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Build what is due every ``interval`` seconds until ``stop()``; ``sleep`` may be an Event's wait.

        A due product found up to date is planned once per tick of its cron, not on every round."""
        from meshplane.builds.schedule import due_products, run_scheduler

        maintained = {"at": datetime.now(UTC)}  # the first maintenance round is the schedule's next tick
        round_at = {"now": datetime.now(UTC)}

        def find_due(now: datetime) -> list[DueProduct]:
            from meshplane.workspace.reminders import tell_overdue

            round_at["now"] = now
            self._maintain_when_due(now, maintained)
            built: dict[Address, datetime | None] = {}

            def last_built(address: Address) -> datetime | None:  # once per product and round
                if address not in built:
                    built[address] = self.last_built(address)
                return built[address]

            due = due_products(self.graph, last_built, now)
            tell_overdue(self.notifications, last_built, now)  # builds that failed or a scheduler that was down
            lag = max(((now - d.tick).total_seconds() for d in due), default=0.0)
            log_event("scheduler_round", due=[str(d.address) for d in due], lag_seconds=round(lag, 3))
            try:
                self.platform.catalog.metrics.record_scheduler_round(now, len(due), lag)
            except MeshError as error:  # a metrics write must not stop the scheduler
                log.warning("scheduler round not recorded: %s", error)
            return due

        def build_due(due: list[Address]) -> BuildResult | None:
            plan = self._plan_due(due, round_at["now"])
            stale = {item.address for item in plan.items}
            if not plan:
                return None
            result = self.build_plan(plan, trigger="schedule")
            failed = [str(o.address) for o in result.outcomes if o.status.value == "failed"]
            log_event(
                "scheduled_run",
                products=[str(a) for a in stale],
                ok=result.ok,
                seconds=round(result.seconds, 3),
                failed=failed,
            )
            return result

        run_scheduler(find_due, build_due, interval=interval, stop=stop, sleep=sleep, clock=clock)

    def _maintain_when_due(self, now: datetime, maintained: dict[str, datetime]) -> None:
        """The scheduler's maintenance round (``platform.history.maintain_schedule``), logged like builds."""
        from meshplane.builds.schedule import previous_tick

        cron = self.spec.config.platform.history.maintain_schedule
        if cron is None or previous_tick(cron, now) <= maintained["at"]:
            return
        maintained["at"] = now
        try:
            report = self.maintain(now=now)
        except MeshError as error:  # maintenance must not stop the scheduler
            log.warning("maintenance round failed: %s", error)
            return
        log_event(
            "maintenance",
            ok=report.ok,
            expired=sum(len(p.expiry.expired) for p in report.ports if p.expiry),
            deleted_rows=sum(p.retention.deleted_rows for p in report.ports if p.retention),
            compacted_files=sum(p.compaction.rewritten for p in report.ports if p.compaction),
            errors=[f"{p.port}: {p.error}" for p in report.ports if p.error],
        )

    def publish(self, *, checked: bool = False, held_back: Collection[Address] = ()) -> None:
        """Sync the specs into the catalog: domains, products, versions, ports, columns, glossary, lineage.

        Refuses (ContractViolation) while a contract breaks its consumers without a new major version, so
        the catalog keeps the last compatible contract as the baseline.
        """
        from meshplane.workspace.compatibility import assert_no_unversioned_breaking_changes
        from meshplane.workspace.publishing import sync_catalog

        if not checked:
            assert_no_unversioned_breaking_changes(self.graph, self.platform)
        # Ownership baselines first: a loosening spec change must not become the new baseline unapproved.
        self.access.ensure_baselines()
        # Skipped when the catalog holds this mesh state; ``held_back`` products keep their catalog records.
        sync_catalog(self.graph, self.platform.catalog, held_back=held_back)

    def runs(self, product: str | None = None, limit: int = 50) -> list[RunRecord]:
        return self.builds.runs(product, limit)

    def read(self, port: str, *, snapshot_id: int | None = None, as_of: datetime | None = None) -> pa.Table:
        """A published port's rows as its owner sees them (consumers use :meth:`connect`)."""
        try:
            address = Address.parse(port)
        except ValueError as error:
            raise UsageError(str(error)) from None
        return self.builds.read(address, snapshot_id=snapshot_id, as_of=as_of)

    # --- profiles and anomalies (workspace/profiling.py): the owner's view; people see theirs via discovery ---

    @cached_property
    def profiling(self) -> ProfileService:
        from meshplane.workspace.profiling import ProfileService

        return ProfileService(self.graph, self.platform)

    def _port(self, port: str) -> str:
        try:
            address = Address.parse(port)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if address not in self.graph.ports:
            raise NotFound(f"no port {port}; `meshplane ls ports` lists them")
        return str(address)

    def profile(self, port: str) -> ProfileRecord | None:
        """The port's latest profile (None before its first build): row count and, per column, nulls, a distinct
        estimate, min/max, top values and a histogram (sensitive columns: counts only)."""
        history = self.profiling.history(self._port(port), limit=1)
        return history[-1] if history else None

    def profiles(self, port: str, *, limit: int = 120) -> list[ProfileRecord]:
        """The port's profiles, oldest first (one per successful build)."""
        return self.profiling.history(self._port(port), limit=limit)

    def anomalies(self, selectors: list[str] | None = None, *, now: datetime | None = None) -> list[Anomaly]:
        """Anomalies of the selected products' ports against their own history, newest first; with ``now``,
        also ports whose next build is overdue."""
        ports = [f"{a}.{p.name}" for a in self.select(selectors) for p in self.graph.products[a].output_ports]
        view = self.profiling.view(ports, now=now)
        return sorted(view.anomalies, key=lambda a: a.at, reverse=True)

    # --- quality: contract tests, SLOs, breaking changes (workspace/quality.py) ------------------------

    @cached_property
    def quality(self) -> QualityService:
        from meshplane.workspace.edges import GovernedInputs
        from meshplane.workspace.quality import QualityService

        return QualityService(self.graph, self.platform, GovernedInputs(self.graph, self.access))

    def test(
        self, selectors: list[str] | None = None, *, staged: bool = False, engine: str | None = None
    ) -> TestReport:
        """Check every selected port's contract on its published snapshot (``staged``: on an unpublished build)."""
        return self.quality.test(self.select(selectors), staged=staged, engine=engine)

    def slo_status(self, selectors: list[str] | None = None, *, now: datetime | None = None) -> list[PortStatus]:
        """Each selected port's SLOs (met / at risk / breached, with evidence); stored in the catalog."""
        return self.quality.status(self.select(selectors), now=now)

    def diff(self, selectors: list[str] | None = None, *, against: str = "published") -> list[PortDiff]:
        """Each selected port's contract changes against the published contract or a git revision."""
        return self.quality.diff(self.select(selectors), against=against)

    def contract(self, port: str) -> OpenDataContractStandard:
        """The ODCS contract of an output port (or a source contract id)."""
        try:
            address = Address.parse(port)
        except ValueError as error:
            raise UsageError(str(error)) from None
        spec = self.graph.ports.get(address)
        if spec is not None:
            return spec.contract.odcs
        source = self.graph.sources.get(port)
        if source is None:
            raise NotFound(f"no port or source contract {port}")
        return source.odcs

    def table_index(self, port: str) -> int:
        """Which schema object of its contract an output port builds (a further table of a contract with several
        tables is its own port): what table-shaped exports (SQL DDL, JSON Schema, dbt) render."""
        try:
            spec = self.graph.ports.get(Address.parse(port))
        except ValueError:
            return 0
        return spec.contract.table_index if spec is not None else 0

    def dbt_references(self, port: str) -> dict[str, str]:
        """dbt model names of the tables a port's foreign keys point at: a sibling port, or the upstream port of
        the input port of that name (``<domain>__<product>__<port>``, as the dbt export names models)."""
        from meshplane.contracts.dbt import dbt_model_name

        address = Address.parse(port)
        if address not in self.graph.ports:
            return {}
        names: dict[str, str] = {}
        for sibling in self.graph.ports:
            if sibling.product_address == address.product_address:
                names[str(sibling.port)] = dbt_model_name(str(sibling))
        for edge in self.graph.edges.get(address.product_address, ()):
            if edge.upstream_port is not None:
                names[edge.input.name] = dbt_model_name(str(edge.upstream_port))
        return names

    @cached_property
    def lifecycle(self) -> LifecycleService:
        """Retention, snapshot expiry and file clean-up (workspace/lifecycle.py)."""
        from meshplane.workspace.lifecycle import LifecycleService

        return LifecycleService(self.graph, self.platform)

    def maintain(
        self, selectors: list[str] | None = None, *, now: datetime | None = None, min_file_age: float = 3600.0
    ) -> MaintenanceReport:
        """``meshplane maintain``: retention, compaction of small files, snapshot expiry and removal of unreferenced
        files."""
        products = sorted({a.product_address for a in self.select(selectors)}, key=str)
        return self.lifecycle.maintain(products, now=now, min_file_age=min_file_age)

    def relocate(self) -> list[Relocation]:
        """``meshplane maintain --relocate``: after the mesh folder moved (or was copied), rewrite each table's
        Iceberg metadata so every path lies in this mesh's warehouse (a new metadata version per table)."""
        from meshplane.storage.relocate import relocate_tables

        return relocate_tables(self.platform.tables)

    @cached_property
    def governance(self) -> GovernanceService:
        """Policies: build-time gates, compliance reports, waivers."""
        from meshplane.workspace.governing import GovernanceService

        return GovernanceService(self.graph, self.platform)

    # --- access: requests, grants, governed queries, ownership ---------------------------------------

    @cached_property
    def access(self) -> AccessService:
        from meshplane.workspace.access import AccessService

        return AccessService(self.graph, self.platform)

    @cached_property
    def workbench(self) -> Workbench:
        """The portal's workbench: the SQL editor's schema, query history, saved queries, annotations."""
        from meshplane.workspace.workbench import Workbench

        return Workbench(self.platform.catalog.workbench, self.access)

    @cached_property
    def discovery(self) -> DiscoveryService:
        """Search, lineage, product pages and access decisions for the portal and the API."""
        from meshplane.workspace.discovery import DiscoveryService

        return DiscoveryService(self.graph, self.platform, access=self.access)

    def connect(self, *, as_user: str) -> Connection:
        """A governed query connection acting as ``as_user``: ``.sql(text)`` returns an Arrow table."""
        return self.access.connect(as_user)
