"""Discovery use cases: search, product pages, lineage, health, usage, and deciding access requests.

One :class:`DiscoveryService` per opened mesh (``DiscoveryService(mesh.graph, mesh.platform)``): the CLI's
``search`` and ``lineage`` commands, the REST API and the portal all call it, so they show the same things.
Who owns, reads, requests and decides is asked of the one access authority (``mesh.access.authority``);
the catalog holds history, requests and grants.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from meshplane.access.disclosure import Result, public_error, run_for_viewer, without_samples
from meshplane.catalog import (
    AccessRequest,
    AccessRequestStatus,
    CatalogReader,
    CheckResult,
    ColumnRecord,
    DomainRecord,
    Grant,
    PolicyResult,
    PortRecord,
    PortUsage,
    ProductRecord,
    ProfileRecord,
    RunRecord,
    RunStatus,
    SearchResults,
    SloEvaluation,
    VersionRecord,
)
from meshplane.catalog.health import HealthFacts, ProductSummary
from meshplane.errors import NotFound, QueryRejected, UsageError
from meshplane.graph import MeshGraph
from meshplane.lineage import (
    ColumnEdge,
    Direction,
    Impact,
    LineageView,
    column_lineage,
    columns_downstream,
    columns_upstream,
    impact_of,
    lineage_of,
)
from meshplane.types import Address, Principal
from meshplane.workspace.platform import Platform
from meshplane.workspace.profiling import ProfileService, ProfileView, for_viewer

if TYPE_CHECKING:
    from meshplane.access.authority import AccessAuthority
    from meshplane.workspace.access import AccessService
    from meshplane.workspace.quality import TestReport

__all__ = ["DiscoveryService", "ProductHealth", "ProductPage", "QualityPoint", "health_status"]

T = TypeVar("T")
PRINCIPAL_TTL_S = 5.0


class _Cache:
    """A small thread-safe LRU of computed views, each kept under a version stamp for at most ``ttl`` s."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._lock = threading.Lock()
        self._entries: OrderedDict[Any, tuple[float, Any, Any]] = OrderedDict()

    def get(self, key: Any, stamp: Any, compute: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] > now and found[1] == stamp:
                self._entries.move_to_end(key)
                value: T = found[2]
                return value
        value = compute()
        with self._lock:  # kept ttl seconds from when it was computed (a slow computation is not born stale)
            self._entries[key] = (time.monotonic() + self.ttl, stamp, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass(frozen=True, slots=True)
class QualityPoint:
    """One run of a product: when, its status, rows, and how many checks passed."""

    run_id: str
    at: datetime
    status: str
    rows: int | None
    seconds: float | None
    passed: int
    failed: int


@dataclass(frozen=True, slots=True)
class ProductHealth:
    address: str
    status: str  # healthy | failing | unbuilt | stale
    last_run: RunRecord | None
    last_success: datetime | None
    failed_checks: int
    slo_breached: int


@dataclass(frozen=True)
class ProductPage:
    """Everything the product page and ``GET /api/v1/products/{address}`` show."""

    product: ProductRecord
    domain: DomainRecord | None
    team: Mapping[str, Any]
    health: ProductHealth
    history: tuple[QualityPoint, ...]
    latest_checks: tuple[CheckResult, ...]
    slo: tuple[SloEvaluation, ...]
    versions: Mapping[str, tuple[VersionRecord, ...]]
    usage: tuple[PortUsage, ...]
    lineage: LineageView
    masks: Mapping[str, Mapping[str, str]]  # port -> column -> mask kind
    approvers: Mapping[str, tuple[str, ...]]  # port -> teams that may approve requests
    policy: tuple[PolicyResult, ...] = field(default=())


def health_status(facts: HealthFacts) -> str:
    """A product's health (the one rule for every page): ``unbuilt`` without a finished run; ``failing`` when
    its newest finished run failed or was interrupted, its newest success has failed checks, or an SLO is
    breached; else ``healthy``."""
    if facts.last_status is None:
        return "unbuilt"
    if facts.last_status in (RunStatus.FAILED, RunStatus.INTERRUPTED) or facts.failed_checks or facts.breached:
        return "failing"
    return "healthy"


class DiscoveryService:
    def __init__(self, graph: MeshGraph, platform: Platform, *, access: AccessService) -> None:
        """``access`` is the facade's ``mesh.access``: its authority makes every access decision shown or
        enforced here, and its workflow records requests and decisions."""
        self.graph = graph
        self.platform = platform
        self.access = access
        self._lock = threading.Lock()
        # Views computed from the catalog, keyed by what they show and stamped with the catalog's versions
        # (search index, history); the TTL bounds how stale usage counts and requests may look.
        self._searches = _Cache(size=2048, ttl=30.0)
        self._pages = _Cache(size=512, ttl=3.0)
        # The home page summarises every product: kept until the history or the index changes (a run, a sync),
        # at most 10 s (pending requests).
        self._overview = _Cache(size=1, ttl=10.0)
        # Governance views read only policy results (their newest id is part of the history stamp).
        self._governance = _Cache(size=8, ttl=300.0)
        self._lineages = _Cache(size=1024, ttl=float("inf"))  # the graph never changes under an opened mesh
        self._principals: dict[str, tuple[float, Principal | None]] = {}
        self._redacted: dict[str, tuple[ProductPage, ProductPage]] = {}  # address -> (page, as non-owners see it)

    @property
    def reader(self) -> CatalogReader:
        return self.platform.catalog.reader

    # --- principals and decisions: asked of the access authority, never decided here ---------------

    @property
    def authority(self) -> AccessAuthority:
        return self.access.authority

    def users(self) -> list[dict[str, Any]]:
        """Every user the mesh declares (in a team or under ``users``), with display name and teams."""
        config = self.graph.spec.config
        names = {u.username: u for u in config.users}
        directory = self.access.directory
        return [
            {"username": u, "name": (names[u].name if u in names else None) or u,
             "email": names[u].email if u in names else None, "teams": sorted(directory.teams_of(u))}
            for u in sorted(directory.users)
        ]  # fmt: skip

    def principal(self, username: str) -> Principal | None:
        """The principal of a declared user; None for names the mesh does not know (memoized for a few
        seconds: mesh.yaml's teams do not change while it is open, those an identity provider gives may)."""
        now = time.monotonic()
        hit = self._principals.get(username)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self.authority.known(username)
        with self._lock:
            if len(self._principals) > 10_000:
                self._principals.clear()
            self._principals[username] = (now + PRINCIPAL_TTL_S, found)
        return found

    def forget_principal(self, username: str) -> None:
        """Drop the memo of ``username`` (they just signed in: the teams their provider gave count at once)."""
        with self._lock:
            self._principals.pop(username, None)

    def owns(self, principal: Principal, address: str) -> bool:
        """Member of an owner team of the product or port (the governance team decides but owns nothing)."""
        return self.authority.owns(principal, address)

    def approvers_of(self, port: str) -> tuple[str, ...]:
        """Teams that may decide requests for ``port`` besides the governance team."""
        try:
            return self.authority.approver_teams(port)
        except ValueError as error:
            raise UsageError(str(error)) from None

    def can_decide(self, principal: Principal, port: str) -> bool:
        return self.authority.may_decide(principal, port)

    # --- search, lineage ---------------------------------------------------------------------------

    def search(
        self, text: str, *, filters: Mapping[str, Iterable[str]] | None = None, limit: int = 20, offset: int = 0
    ) -> SearchResults:
        limit, offset = max(1, min(limit, 200)), max(0, offset)
        chosen = tuple(sorted((k, tuple(sorted({str(v) for v in vs}))) for k, vs in (filters or {}).items()))
        try:
            return self._searches.get(
                (text, chosen, limit, offset), self.reader.search_version(),
                lambda: self.reader.search(text, filters=filters, limit=limit, offset=offset),
            )  # fmt: skip
        except ValueError as error:
            raise UsageError(str(error)) from None

    @cached_property
    def port_addresses(self) -> frozenset[str]:
        """Every output port's address (the graph never changes under an opened mesh)."""
        return frozenset(str(p) for p in self.graph.ports)

    @cached_property
    def column_edges(self) -> tuple[ColumnEdge, ...]:
        """Column lineage of every SQL transform (computed once per opened mesh)."""
        return tuple(column_lineage(self.graph))

    def lineage(self, address: str, direction: Direction = Direction.BOTH, *, depth: int | None = None) -> LineageView:
        self._product_address(address)
        return self._lineages.get((address, direction, depth), None,
                                  lambda: lineage_of(self.graph, address, direction, depth=depth))  # fmt: skip

    def column_lineage(self, address: str, direction: Direction = Direction.BOTH) -> list[ColumnEdge]:
        """Column edges into and/or out of a port (or one ``port.column``), transitively."""
        parts = address.split(".")
        port, column = ".".join(parts[:3]), (parts[3] if len(parts) == 4 else None)
        found: list[ColumnEdge] = []
        if len(parts) == 2:
            self._product_address(address)
            ports = [f"{address}.{p.name}" for p in self.graph.products[Address.parse(address)].output_ports]
        else:
            self._port_spec(port)
            ports = [port]
        for one in ports:
            if direction in (Direction.UPSTREAM, Direction.BOTH):
                found.extend(columns_upstream(self.column_edges, one, column))
            if direction in (Direction.DOWNSTREAM, Direction.BOTH):
                found.extend(columns_downstream(self.column_edges, one, column))
        return sorted(set(found))

    def impact(self, subject: str, viewer: Principal | None = None) -> Impact:
        """What changing ``subject`` touches; with a ``viewer``, only grants of ports they decide on are
        listed (who holds grants is shown to deciders only); without one, everything (platform use)."""
        parts = subject.split(".")
        self._product_address(".".join(parts[:2]))
        grants = [(g.port, g.grantee) for g in self.reader.grants()
                  if viewer is None or self.authority.may_see_grants(viewer, g.port, g.grantee)]  # fmt: skip
        return impact_of(self.graph, subject, grants=grants, edges=self.column_edges)

    # --- pages ---------------------------------------------------------------------------------------

    def _product_address(self, address: str) -> Address:
        try:
            parsed = Address.parse(address)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if parsed.product is None or parsed.product_address not in self.graph.products:
            raise NotFound(f"no product {parsed.product_address}; `meshplane ls products` lists them")
        return parsed.product_address

    def _port_spec(self, port: str) -> Any:
        try:
            parsed = Address.parse(port)
        except ValueError as error:
            raise UsageError(str(error)) from None
        spec = self.graph.ports.get(parsed)
        if spec is None:
            raise NotFound(f"no port {port}; `meshplane ls ports` lists them")
        return spec

    def health_of(self, products: list[ProductRecord]) -> dict[str, ProductHealth]:
        """:meth:`health` of many products in three catalog queries (runs, SLO evaluations, failed checks)."""
        every_run = self.reader.runs_of(None if len(products) > 500 else [p.address for p in products], per_product=20)
        slo = self.reader.slo_evaluations_of([port.address for p in products for port in p.ports], per_port=4)
        successes = {}
        for p in products:
            finished = [r for r in every_run.get(p.address, []) if r.status is not RunStatus.RUNNING]
            success = next((r for r in finished if r.status is RunStatus.SUCCESS), None)
            if success is not None:
                successes[p.address] = success.run_id
        failed = self.reader.failed_checks_of(successes.values())
        return {
            p.address: self._health(
                p, every_run.get(p.address, []),
                failed=failed.get(successes[p.address], 0) if p.address in successes else None,
                breached=sum(1 for port in p.ports for e in slo.get(port.address, []) if e.status == "breached"),
            )
            for p in products
        }  # fmt: skip

    def health(self, product: ProductRecord, runs: list[RunRecord] | None = None) -> ProductHealth:
        runs = runs if runs is not None else self.reader.runs(product.address, limit=20)
        latest = self.reader.slo_evaluations_of([p.address for p in product.ports], per_port=4)
        breached = sum(1 for evaluations in latest.values() for e in evaluations if e.status == "breached")
        return self._health(product, runs, failed=None, breached=breached)

    def _health(self, product: ProductRecord, runs: list[RunRecord], *, failed: int | None,
                breached: int) -> ProductHealth:  # fmt: skip
        """``failed``: failed checks of the latest successful run when already known (else looked up)."""
        finished = [r for r in runs if r.status is not RunStatus.RUNNING]
        last = finished[0] if finished else None
        success = next((r for r in finished if r.status is RunStatus.SUCCESS), None)
        failed_checks = 0
        if success is not None:
            failed_checks = failed if failed is not None else sum(
                1 for c in self.reader.check_results(run_id=success.run_id) if not c.passed)  # fmt: skip
        status = health_status(HealthFacts(last.status if last else None, failed_checks, breached))
        return ProductHealth(product.address, status, last, success.ended_at if success else None,
                             failed_checks, breached)  # fmt: skip

    def overview(self) -> dict[str, Any]:
        """The home page: domains with their products and health, and mesh-wide counts (recomputed when the
        catalog's history or search index changes, or after 10 s)."""
        stamp = (self.reader.history_version(), self.reader.search_version())
        return self._overview.get("overview", stamp, self._compute_overview)

    def _compute_overview(self) -> dict[str, Any]:
        """Counts and statuses aggregated in SQL (:mod:`meshplane.catalog.health`): no product record, run or
        contract of the 10,000 products of a large mesh is read to draw them."""
        products = self.reader.product_summaries()
        facts = self.reader.health_facts()
        status = {p.address: health_status(facts.get(p.address, HealthFacts())) for p in products}
        by_domain: dict[str, list[ProductSummary]] = defaultdict(list)
        for p in products:
            by_domain[p.domain].append(p)
        counts: dict[str, int] = defaultdict(int)
        for one in status.values():
            counts[one] += 1
        domains = [
            {"domain": d, "products": by_domain.get(d.name, []),
             "healthy": sum(1 for p in by_domain.get(d.name, []) if status[p.address] == "healthy")}
            for d in self.reader.domains()
        ]  # fmt: skip
        pending = self.reader.access_requests(status=AccessRequestStatus.PENDING)
        return {
            "mesh": self.graph.spec.config.name,
            "title": self.graph.spec.config.title or self.graph.spec.config.name,
            "description": self.graph.spec.config.description or "",
            "domains": domains,
            "product_count": len(products),
            "port_count": sum(p.ports for p in products),
            "health": dict(counts),
            "status": status,
            "pending_requests": len(pending),
        }

    def product_page(self, address: str) -> ProductPage:
        """The page, recomputed when the catalog's history or search index (each sync) changes, or after a
        few seconds (usage counts); one catalog query per section."""
        product_address = str(self._product_address(address))
        stamp = (self.reader.history_version(), self.reader.search_version())
        return self._pages.get(product_address, stamp, lambda: self._product_page(product_address))

    def product_page_for(self, viewer: Principal, address: str) -> ProductPage:
        """The product page as ``viewer`` may see it: outside the owner teams, without check-failure samples
        and with run errors reduced to their kind (:mod:`meshplane.access.disclosure`)."""
        page = self.product_page(address)
        if self.authority.may_see_samples(viewer, page.product.address):
            return page
        key = page.product.address
        with self._lock:
            hit = self._redacted.get(key)
        if hit is not None and hit[0] is page:
            return hit[1]
        health = page.health
        if health.last_run is not None:
            health = replace(health, last_run=run_for_viewer(health.last_run, owner=False))
        redacted = replace(page, latest_checks=without_samples(page.latest_checks), health=health)
        with self._lock:
            if len(self._redacted) > 1024:
                self._redacted.clear()
            self._redacted[key] = (page, redacted)
        return redacted

    def runs_for(self, viewer: Principal, product: str | None = None, *, limit: int = 50) -> list[RunRecord]:
        """Runs, newest first; errors of products ``viewer`` does not own reduced to their kind."""
        return self.runs_shown_to(viewer, self.reader.runs(product, limit=limit))

    def runs_shown_to(self, viewer: Principal, runs: Iterable[RunRecord]) -> list[RunRecord]:
        """``runs`` as ``viewer`` may see them (the REST API's and the CLI's one rule)."""
        return [run_for_viewer(r, owner=self.authority.owns(viewer, r.product)) for r in runs]

    def check_results_for(self, viewer: Principal, port: str, *, limit: int = 200) -> list[CheckResult]:
        """A port's check results; failing rows only for its owners."""
        return self.checks_shown_to(viewer, port, self.reader.check_results(port=port, limit=limit))

    def checks_shown_to(self, viewer: Principal, port: str, results: Iterable[Result]) -> list[Result]:
        """Check results of ``port`` (stored, or a test run's) as ``viewer`` may see them: failing rows only
        for its owners."""
        found = list(results)
        return found if self.authority.may_see_samples(viewer, port) else list(without_samples(found))

    def test_report_for(self, viewer: Principal, report: TestReport) -> TestReport:
        """``meshplane test``'s report as ``viewer`` may see it: the same decisions as the REST API's runs and
        quality views (samples for the port's owners, error text for the product's owners)."""
        ports = []
        for port in report.ports:
            shown = self.checks_shown_to(viewer, str(port.port), port.results)
            error = port.error
            if error and not self.authority.owns(viewer, str(port.port.product_address)):
                error = public_error(error)
            ports.append(replace(port, results=tuple(shown), error=error))
        return replace(report, ports=tuple(ports))

    def domain_page_for(self, viewer: Principal, name: str) -> dict[str, Any]:
        page = self.domain_page(name)
        owned = self.authority.owned_products(viewer)
        health = {
            address: h if h.last_run is None or address in owned
            else replace(h, last_run=run_for_viewer(h.last_run, owner=False))
            for address, h in page["health"].items()
        }  # fmt: skip
        return {**page, "health": health}

    def _product_page(self, product_address: str) -> ProductPage:
        product = self.reader.product(product_address)
        if product is None:
            raise UsageError(f"{product_address} is not in the catalog yet; run `meshplane publish`")
        reader = self.reader
        runs = reader.runs(product_address, limit=30)
        checks_by_run: dict[str, list[CheckResult]] = defaultdict(list)
        port_addresses = [p.address for p in product.ports]
        for c in reader.check_results(ports=port_addresses, limit=400 * max(1, len(port_addresses))):
            checks_by_run[c.run_id].append(c)
        history = tuple(
            QualityPoint(
                r.run_id, r.started_at, r.status.value, r.rows_written,
                (r.ended_at - r.started_at).total_seconds() if r.ended_at else None,
                sum(1 for c in checks_by_run.get(r.run_id, []) if c.passed),
                sum(1 for c in checks_by_run.get(r.run_id, []) if not c.passed),
            )
            for r in reversed(runs) if r.status is not RunStatus.RUNNING
        )  # fmt: skip
        latest_run = next((r for r in runs if r.status is RunStatus.SUCCESS), None)
        latest = tuple(checks_by_run.get(latest_run.run_id, [])) if latest_run else ()
        slo_of = reader.slo_evaluations_of(port_addresses, per_port=10)
        slo = tuple(e for port in port_addresses for e in slo_of.get(port, []))
        every_version = reader.versions_of([product_address, *port_addresses])
        versions = {a: tuple(every_version.get(a, [])) for a in [product_address, *port_addresses]}
        domain = reader.domain(product.domain)
        team = next((t for t in reader.teams() if t.name == product.owner_team), None)
        latest_success = next((r for r in runs if r.status is RunStatus.SUCCESS), None)
        health = self._health(
            product, runs,
            failed=None if latest_success is None else sum(
                1 for c in checks_by_run.get(latest_success.run_id, []) if not c.passed),
            breached=sum(1 for port in port_addresses for e in slo_of.get(port, [])[:4] if e.status == "breached"),
        )  # fmt: skip
        users = {u["username"]: u for u in self.users()}
        team_info = {
            "name": product.owner_team, "title": team.title if team else product.owner_team,
            "members": [{"username": m.username, "role": m.role, "name": users.get(m.username, {}).get("name")}
                        for m in (team.members if team else ())],
        }  # fmt: skip
        return ProductPage(
            product=product, domain=domain, team=team_info, health=health, history=history,
            latest_checks=latest, slo=slo, versions=versions,
            usage=tuple(reader.port_usage(ports=port_addresses)),
            lineage=self.lineage(product_address), masks={p.address: self.masks(p) for p in product.ports},
            approvers={p.address: self.approvers_of(p.address) for p in product.ports},
            policy=tuple(reader.policy_results(subject=product_address, limit=50)),
        )  # fmt: skip

    # --- profiles, anomalies, trends ---------------------------------------------------------------------

    @cached_property
    def profiling(self) -> ProfileService:
        return ProfileService(self.graph, self.platform)

    def profile_view(self, product: str) -> ProfileView:
        """The product's ports' latest profiles, history and anomalies (owner view), recomputed when the
        catalog's history changes or after a few seconds (whether a build is overdue depends on the time)."""
        address = self._product_address(product)
        ports = [f"{address}.{p.name}" for p in self.graph.products[address].output_ports]
        return self._pages.get(("profiles", str(address)), self.reader.history_version(),
                               lambda: self.profiling.view(ports, now=datetime.now(UTC)))  # fmt: skip

    def profiles_for(self, viewer: Principal, product: str) -> Mapping[str, ProfileRecord]:
        """The latest profile of each port as ``viewer`` may see it: values (min, max, top values, histograms) of
        the columns the access authority lets them read unmasked over every row; counts of all."""
        view = self.profile_view(product)
        readable = {port: self.authority.readable_values(viewer, port) for port in view.latest}
        return for_viewer(view, readable)

    def profile_history_for(self, viewer: Principal, port: str, *, limit: int = 120) -> list[ProfileRecord]:
        """A port's profiles, oldest first, as ``viewer`` may see them."""
        from meshplane.access.disclosure import profile_for_viewer

        self._port_spec(port)
        readable = self.authority.readable_values(viewer, port)
        return [profile_for_viewer(p, readable) for p in self.profiling.history(port, limit=limit)]

    def compliance_trend(self, *, limit: int = 30) -> list[dict[str, Any]]:
        """Governance over time: each of the newest ``limit`` policy evaluations (oldest first) with its
        outcome counts and the share of results that pass (waived counts as passing); kept until policy
        results are recorded (one grouped query over every result otherwise)."""
        return list(self._governance.get(("trend", limit), self.reader.history_version(),
                                         lambda: self._compliance_trend(limit)))  # fmt: skip

    def _compliance_trend(self, limit: int) -> list[dict[str, Any]]:
        trend = []
        for evaluation, at, counts in self.reader.compliance_trend(limit=limit):
            total = sum(counts.values())
            passing = counts.get("pass", 0) + counts.get("waived", 0)
            trend.append({"evaluation": evaluation, "at": at, "counts": counts, "total": total,
                          "compliance": passing / total if total else 1.0})  # fmt: skip
        return trend

    def masks(self, port: PortRecord) -> dict[str, str]:
        """Column -> mask kind, from the contract's column ``customProperties``."""
        found: dict[str, str] = {}
        for table in port.contract.get("schema") or []:
            for prop in table.get("properties") or []:
                for custom in prop.get("customProperties") or []:
                    if custom.get("property") == "mask" and custom.get("value"):
                        found[str(prop.get("name"))] = str(custom["value"])
        return found

    def domain_page(self, name: str) -> dict[str, Any]:
        domain = self.reader.domain(name)
        if domain is None:
            raise NotFound(f"no domain {name}")
        products = self.reader.products(domain=name)
        return {"domain": domain, "products": products, "health": self.health_of(products)}

    def governance(self) -> dict[str, Any]:
        """The latest policy evaluation as a compliance matrix (policy x subject) plus its waivers; kept until
        policy results are recorded."""
        return dict(self._governance.get("matrix", self.reader.history_version(), self._governance_matrix))  # a copy

    def _governance_matrix(self) -> dict[str, Any]:
        evaluation = self.reader.latest_policy_evaluation()
        results = self.reader.policy_results(evaluation_id=evaluation, limit=20_000) if evaluation else []
        policies = sorted({r.policy_id for r in results})
        subjects = sorted({r.subject for r in results})
        cells: dict[tuple[str, str], str] = {}
        rank = {"pass": 0, "waived": 1, "fail": 2, "error": 3}
        for r in results:
            key = (r.policy_id, r.subject)
            if rank.get(r.outcome, 3) >= rank.get(cells.get(key, "pass"), 0):
                cells[key] = r.outcome
        return {
            "evaluation": evaluation,
            "evaluated_at": results[0].evaluated_at if results else None,
            "policies": policies, "subjects": subjects, "cells": cells,
            "failures": [r for r in results if r.outcome in ("fail", "error")],
            "waivers": [r for r in results if r.outcome == "waived"],
        }  # fmt: skip

    # --- access requests: the access workflow decides and records ----------------------------------

    def request_access(
        self, principal: Principal, port: str, purpose: str, *, columns: Iterable[str] = (),
        until: datetime | None = None,
    ) -> AccessRequest:  # fmt: skip
        self._port_spec(port)
        return self.access.request_access(principal.username, port, purpose, tuple(columns), until)

    def request_agreement(
        self, principal: Principal, product: str, port: str, purpose: str = "", *, columns: Iterable[str] = (),
        until: datetime | None = None, unmasked: Iterable[str] = (),
    ) -> AccessRequest:  # fmt: skip
        """An agreement for ``product`` (the principal in its owner team) to read ``port`` in its builds."""
        return self.access.request_agreement(principal.username, product, port, purpose, tuple(columns), until,
                                             tuple(unmasked))  # fmt: skip

    def agreements(self, principal: Principal, *, product: str | None = None,
                   port: str | None = None) -> list[AccessRequest]:  # fmt: skip
        """Agreement requests (any state) of one consuming product or for one port, as the authority lets the
        principal see them: the consuming product's owners and the port's deciders."""
        authority = self.access.authority
        return [
            view.request
            for view in self.access.list_agreements(product, port)
            if authority.owns(principal, view.product) or authority.may_decide(principal, view.request.port)
        ]

    def approve(self, principal: Principal, request_id: str, *, row_filter: str | None = None,
                note: str = "") -> Grant:  # fmt: skip
        try:
            return self.access.approve(principal.username, request_id, row_filter, note)
        except QueryRejected as error:
            raise UsageError(f"row filter: {error}") from None

    def deny(self, principal: Principal, request_id: str, *, note: str = "") -> AccessRequest:
        return self.access.deny(principal.username, request_id, note)

    def revoke(self, principal: Principal, request_id: str, *, note: str = "") -> AccessRequest:
        """Deciders revoke a grant; requesters may also withdraw (revoke) their own request."""
        return self.access.revoke(principal.username, request_id, note)

    def inbox(self, principal: Principal, *, status: AccessRequestStatus | None = AccessRequestStatus.PENDING,
              ) -> list[AccessRequest]:  # fmt: skip
        """Requests the principal may decide (all of them for the governance team)."""
        if principal.is_governance:
            return self.reader.access_requests(status=status)
        ports = self.authority.decidable_ports(principal)
        return self.reader.access_requests(ports=ports, status=status) if ports else []

    def requests_of(self, principal: Principal) -> list[AccessRequest]:
        return self.reader.access_requests(requester=principal.username)

    def grants_of(self, principal: Principal) -> list[Grant]:
        return self.reader.grants(grantee=principal.username)

    def columns_of(self, port: str) -> tuple[ColumnRecord, ...]:
        record = self.reader.port(port)
        return record.columns if record else ()
