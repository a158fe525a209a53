"""Governance wired to the catalog: check and build enforcement, recorded results, reports, waivers.

The governance layer evaluates policies over a graph; this module hands it what lives in the catalog (the
published contracts for the ``diff`` field, the waivers granted with ``meshplane govern waive``) and
records every evaluation's results there (``mp_policy_results`` for the portal's dashboard, one
``governance.evaluated`` audit event per evaluation for the trend).
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.errors import CatalogError, NotFound, PolicyViolation, UsageError
from meshplane.governance import (
    GovernanceReport,
    Point,
    PolicySet,
    PolicyTestResult,
    Violation,
    blocking,
    evaluate,
    load_policies,
    run_policy_tests,
)
from meshplane.governance.loading import governance_members, pack_files
from meshplane.governance.sandbox import DEFAULT_TIMEOUT, OutcomeMemo
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.types import Address, Problem, Severity
from meshplane.workspace.platform import Platform, has_catalog

if TYPE_CHECKING:  # the catalog (SQLAlchemy) is imported when results are stored: `check` has none to store
    from meshplane.catalog import PolicyResult

__all__ = [
    "EVALUATED",
    "WAIVER",
    "GovernanceService",
    "governance_problems",
    "policy_results",
    "violation_problem",
]

EVALUATED = "governance.evaluated"  # audit action: one per recorded evaluation (its summary: the trend)
WAIVER = "governance.waiver"  # audit action: a waiver granted by a governance team member
TIMEOUT_VARIABLE = "MESHPLANE_POLICY_TIMEOUT"


def _today(now: dt.datetime | dt.date | None) -> dt.datetime | dt.date:
    return now if now is not None else dt.datetime.now(dt.UTC)


def _env_timeout() -> float:
    """``MESHPLANE_POLICY_TIMEOUT``: seconds a rule may run before it counts as failed (default 5)."""
    value = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"{TIMEOUT_VARIABLE}={value!r}: write a number of seconds, e.g. 5") from None


def violation_problem(violation: Violation) -> Problem:
    """A violation as a located problem whose code is the policy id (what ``meshplane check`` prints)."""
    return Problem(
        violation.location,
        message if violation.address in (message := violation.message) else f"{violation.address}: {message}",
        violation.fix,
        code=violation.policy,
        severity=violation.severity,
    )


def _unit(violation: Violation) -> str:
    return violation.product or violation.domain or violation.address


def policy_results(report: GovernanceReport) -> list[PolicyResult]:
    """One row per policy and product (or domain, or the mesh): pass, fail, error or waived.

    Failing rows name the offending element (``address: message``) and its file:line:column.
    """
    from meshplane.catalog import PolicyResult

    rows: list[PolicyResult] = []
    touched: set[tuple[str, str]] = set()
    for outcome, found in (("waived", report.waived), ("fail", report.violations)):
        for v in found:
            unit = _unit(v)
            touched.add((v.policy, unit))
            rows.append(
                PolicyResult(
                    policy_id=v.policy,
                    subject=unit,
                    outcome="error" if v.failed and outcome == "fail" else outcome,
                    message=f"{v.address}: {v.message}",
                    location=v.location.render(report.root),
                    severity=v.severity.value,
                )
            )
    severity = {pid: sev for pid, _, sev, *_ in report.policies}
    for policy, units in sorted(report.applied.items()):
        rows.extend(
            PolicyResult(policy_id=policy, subject=unit, outcome="pass", severity=severity.get(policy, "error"))
            for unit in sorted(units)
            if (policy, unit) not in touched
        )
    return rows


@dataclass
class GovernanceService:
    """Policies of one mesh evaluated against its catalog state; every evaluation is recorded.

    The rules' outcomes are kept by their inputs (``memo``) for the service's life, so the gate of a scheduler's
    next build of unchanged specs forks no worker; the report is still made and recorded each time."""

    graph: MeshGraph
    platform: Platform
    policies: PolicySet | None = None
    timeout: float | None = None
    memo: OutcomeMemo = field(default_factory=OutcomeMemo, repr=False)

    @property
    def root(self) -> Path:
        return self.graph.spec.root

    def policy_set(self) -> PolicySet:
        if self.policies is None:
            spec = self.graph.spec
            self.policies = load_policies(
                self.root, domains=[d.name for d in spec.domains], global_root=spec.governance_root
            )
        return self.policies

    # --- catalog state -------------------------------------------------------------------------------

    def published(self, products: Iterable[Address] | None = None) -> dict[str, OpenDataContractStandard]:
        """The contracts consumers see now, by port address (for the ``diff`` of every port document): of the
        mesh's ports, or only of the ``products`` an evaluation is limited to (no other port document is read)."""
        chosen = None if products is None else {a.product_address for a in products}
        ports = [str(a) for a in self.graph.ports if chosen is None or a.product_address in chosen]
        found: dict[str, OpenDataContractStandard] = {}
        for address, contract in self.platform.catalog.reader.port_contracts(ports).items():
            if not contract:
                continue
            try:
                found[address] = OpenDataContractStandard.model_validate(dict(contract))
            except ValueError:  # an unreadable stored contract: no diff for this port (the check says so)
                continue
        return found

    def waivers(self) -> list[dict[str, Any]]:
        """Waivers granted with ``meshplane govern waive`` (the loader checks the approver and the expiry)."""
        events = self.platform.catalog.reader.audit_log(action=WAIVER, limit=100_000)
        return [dict(e.detail) for e in reversed(events)]

    def waive(self, policy: str, subject: str, *, reason: str, until: dt.date, approver: str) -> dict[str, Any]:
        """Record a waiver; only a member of mesh.yaml's governance team may approve one."""
        spec = self.graph.spec
        members = governance_members(spec)
        if approver not in members:
            team = spec.config.governance_team or "(none: set governance_team in mesh.yaml)"
            raise UsageError(f"{approver!r} is not a member of the governance team {team}; only its members "
                             "may approve waivers")  # fmt: skip
        if self.policy_set().get(policy) is None and policy not in self.policy_set().ids:
            raise NotFound(f"no policy {policy!r}; known: {', '.join(sorted(self.policy_set().ids))}")
        if not reason.strip():
            raise UsageError("a waiver needs a reason (--reason)")
        if not self._known_subject(subject):
            raise UsageError(f"{subject!r} is not the mesh, a domain, product, port or column of {spec.config.name}")
        detail = {"policy": policy, "subject": subject, "reason": reason, "approver": approver,
                  "expires": until.isoformat()}  # fmt: skip
        self.platform.catalog.writer.append_audit(approver, WAIVER, subject, detail)
        return detail

    def _known_subject(self, subject: str) -> bool:
        spec = self.graph.spec
        if subject == spec.config.name or any(d.name == subject for d in spec.domains):
            return True
        parts = subject.split(".")
        try:
            if len(parts) == 2:
                return Address.parse(subject) in self.graph.products
            if len(parts) in (3, 4):
                port = self.graph.ports.get(Address.parse(".".join(parts[:3])))
                return port is not None and (len(parts) == 3 or any(c.name == parts[3] for c in port.contract.columns))
        except ValueError:
            return False
        return False

    def trend(self, limit: int = 50) -> list[dict[str, Any]]:
        """Summaries of the past recorded evaluations, oldest first."""
        events = self.platform.catalog.reader.audit_log(action=EVALUATED, limit=limit)
        return [dict(e.detail) for e in reversed(events)]

    # --- evaluations ---------------------------------------------------------------------------------

    def evaluate(
        self,
        point: Point | str,
        *,
        now: dt.datetime | dt.date | None = None,
        products: Iterable[Address] | None = None,
        record: bool = True,
    ) -> GovernanceReport:
        """Evaluate ``point`` with the catalog's published contracts and waivers, and record the results."""
        if products is not None:
            products = list(products)
        report = evaluate(
            self.graph,
            point,
            now=_today(now),
            published=self.published(products),
            waivers=self.waivers(),
            policies=self.policy_set(),
            products=products,
            timeout=self.timeout if self.timeout is not None else _env_timeout(),
            upstream=_upstream(self.graph, self.platform),
            memo=self.memo,
        )
        if record:
            self.record(report)
        return report

    def record(self, report: GovernanceReport) -> str:
        """Store the report's results (dashboard) and its summary (trend); returns the evaluation id."""
        evaluation_id = f"{report.point.value}-{uuid.uuid4().hex[:12]}"
        at = dt.datetime.fromisoformat(report.now)
        summary = {**report.summary(), "evaluation": evaluation_id}
        self.platform.catalog.writer.record_policy_results(
            evaluation_id, policy_results(report), evaluated_at=at, audit=("meshplane", EVALUATED, report.mesh, summary)
        )
        return evaluation_id

    def check(self, *, now: dt.datetime | dt.date | None = None) -> GovernanceReport:
        return self.evaluate(Point.CHECK, now=now)

    def report(self, *, now: dt.datetime | dt.date | None = None, point: Point | str = Point.CHECK,
               record: bool = True) -> tuple[GovernanceReport, list[dict[str, Any]]]:  # fmt: skip
        """A fresh evaluation and the trend of the evaluations before it (for ``meshplane govern report``)."""
        trend = self.trend()
        return self.evaluate(point, now=now, record=record), trend

    def test(self, paths: Sequence[Path] = ()) -> list[PolicyTestResult]:
        """Run policy test files: ``paths``, else the pack's and ``policies/**/tests/*.yaml`` of the mesh."""
        chosen = list(paths) or default_test_paths(self.root)
        return run_policy_tests(chosen, policies=self.policy_set())

    def build_gate(
        self, products: Iterable[Address] | None = None, *, now: dt.datetime | dt.date | None = None
    ) -> Callable[[ProductSpec], None]:
        """Evaluate the build-time policies once (before the build syncs the specs), then gate each product."""
        report = self.evaluate(Point.BUILD, now=now, products=products)
        by_product: dict[str, list[Violation]] = {}
        for violation in blocking(report):
            by_product.setdefault(violation.product or "", []).append(violation)
        mesh_wide = by_product.pop("", [])  # mesh and domain subjects block every product they contain
        broken = [p for p in report.problems if p.severity is Severity.ERROR]  # unenforceable: fail closed
        root = self.root

        def gate(product: ProductSpec) -> None:
            address = str(product.address)
            if broken:
                raise PolicyViolation(
                    f"{address}: blocked: the governance policies cannot be enforced: "
                    + "; ".join(f"{p.location.render(root)}: {p.message}" for p in broken),
                    broken,
                )
            found = [v for v in mesh_wide if v.domain in (None, product.domain)] + by_product.get(address, [])
            if found:
                details = "; ".join(
                    f"[{v.policy}] {v.address} at {v.location.render(root)}: {v.message}"
                    + (f" (fix: {v.fix})" if v.fix else "")
                    for v in found
                )
                raise PolicyViolation(
                    f"{address}: blocked by {len(found)} governance policy violation(s): {details}",
                    [violation_problem(v) for v in found],
                )

        return gate


def default_test_paths(root: Path | None) -> list[Path]:
    """The built-in pack's test files and the mesh's own ``policies/**/tests/*.yaml``."""
    pack_tests = pack_files()[0].parent / "tests" if pack_files() else None
    paths = [pack_tests] if pack_tests is not None and pack_tests.is_dir() else []
    if root is not None:
        paths += sorted({p for p in (root / "policies").glob("**/tests/*.yaml") if p.is_file()})
    return paths


_FLOW_SETTING = "classification_flow"


def _flow_digest(graph: MeshGraph) -> str:
    """A digest of everything classification flow depends on (the SQL and the inputs' sensitive columns of the
    products reading a PII or restricted column); empty when no product reads one."""
    import hashlib

    parts: list[str] = []
    for product in sorted(graph.products.values(), key=lambda p: str(p.address)):
        inputs: list[str] = []
        sensitive = False
        for edge in graph.edges.get(product.address, ()):
            upstream = graph.ports.get(edge.upstream_port) if edge.upstream_port is not None else None
            contract = upstream.contract if upstream is not None else edge.source
            if contract is None:
                continue
            for column in contract.columns:
                inputs.append(f"{edge.input.name}:{contract.id}:{column.name}:{column.classification}")
                sensitive = sensitive or column.classification in ("pii", "restricted")
        if sensitive:
            parts.append(str(product.address))
            parts.extend(sorted(inputs))
            parts.extend(
                f"{port.name}:{port.transform.language}:{port.transform.code}" for port in product.output_ports
            )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest() if parts else ""


def _upstream(graph: MeshGraph, platform: Platform | None = None) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Column lineage's view of which published columns carry PII or restricted values.

    The analysis (sqlglot's optimizer) runs only when what it depends on changed since the catalog last
    stored its answer, so a build of unchanged specs does not pay for it. A mesh without a catalog (a first
    `meshplane check`, which stays free of the SQL parser) is analysed at its first build."""
    import json

    digest = _flow_digest(graph) if platform is not None else ""
    if not digest:
        return {}
    if platform is not None:
        stored = platform.catalog.reader.setting(_FLOW_SETTING)
        if stored:
            data = json.loads(stored)
            if data.get("digest") == digest:
                return {key: (level, tuple(sources)) for key, (level, sources) in data["flows"].items()}
    from meshplane.lineage.classification import classified_upstream

    flows = classified_upstream(graph)
    if platform is not None:
        value = {"digest": digest, "flows": {key: [level, list(sources)] for key, (level, sources) in flows.items()}}
        platform.catalog.writer.put_settings({_FLOW_SETTING: json.dumps(value)})
    return flows


def governance_problems(
    graph: MeshGraph, now: dt.datetime | dt.date | None = None, *, record: bool = True
) -> list[Problem]:
    """Check-time policy violations as located problems (code = policy id); uses the catalog only if it exists."""
    if not has_catalog(graph.spec):
        return report_problems(
            evaluate(graph, Point.CHECK, now=_today(now), timeout=_env_timeout(), upstream=_upstream(graph))
        )
    platform = Platform(graph.spec)
    try:
        return report_problems(GovernanceService(graph, platform).evaluate(Point.CHECK, now=now, record=record))
    except CatalogError as error:
        report = evaluate(graph, Point.CHECK, now=_today(now), timeout=_env_timeout(), upstream=_upstream(graph))
        unchecked = Problem(graph.spec.config_document.locate(()),
                            f"cannot read published contracts and waivers from the catalog: {error}",
                            code="governance-unchecked", severity=Severity.WARNING)  # fmt: skip
        return [unchecked, *report_problems(report)]
    finally:
        platform.close()


def report_problems(report: GovernanceReport) -> list[Problem]:
    """Policy and waiver file problems, then every unwaived violation; expired waivers are warnings."""
    problems = list(report.problems) + [violation_problem(v) for v in report.violations]
    for waiver in report.expired_waivers:
        if waiver.location is None or waiver.location.path.name.startswith("<"):  # catalog waivers: no file
            continue
        problems.append(Problem(waiver.location, f"waiver of {waiver.policy} on {waiver.subject} expired on "
                                f"{waiver.expires.isoformat()} and no longer applies",
                                "renew it with a new expiry, or fix the violation", code="waiver-expired",
                                severity=Severity.WARNING))  # fmt: skip
    return problems
