"""What each event tells, and whom: notifications made from build outcomes, access decisions, agreements and
contract changes. The wiring (building, access, mesh) calls these and hands the result to
:meth:`NotificationService.emit`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from meshplane.graph import MeshGraph
from meshplane.lineage.redaction import redact
from meshplane.notifications import Notification, product_audience, team, user
from meshplane.types import Address, EventKind

if TYPE_CHECKING:
    from meshplane.builds import ProductOutcome
    from meshplane.catalog import AccessRequest
    from meshplane.workspace.compatibility import PortDiff
    from meshplane.workspace.notifying import NotificationService

__all__ = ["access_notice", "agreement_notice", "breaking_notices", "build_notices"]


def build_notices(graph: MeshGraph, outcome: ProductOutcome) -> list[Notification]:
    """A failed build: a policy violation, a blocked breaking change (told by :func:`breaking_notices`), failed
    contract checks, or any other failure; the owner team and the product hear of it."""
    if outcome.status.value != "failed":
        return []
    audience = frozenset(product_audience(graph, [outcome.address]))
    # Engine errors can quote data values; a notification leaves the platform, so quoted literals are redacted.
    details = {"product": str(outcome.address), "run_id": outcome.run_id, "error": redact(outcome.error or "")}
    key = f"run:{outcome.run_id}"
    if outcome.refused == "PolicyViolation":
        guild = graph.spec.config.governance_team
        return [
            Notification(
                EventKind.POLICY_VIOLATION,
                str(outcome.address),
                f"{outcome.address}: a governance policy blocked the build",
                audience | ({team(guild)} if guild else set()),
                details,
                key,
            )
        ]
    failed = [
        {
            "port": str(port.port),
            "rule": c.rule_id,
            "metric": c.metric,
            "column": c.column,
            "threshold": c.threshold,
            "severity": c.severity,
        }
        for port in outcome.ports
        for c in port.checks
        if not c.passed and c.blocking
    ]
    if failed:
        return [
            Notification(
                EventKind.QUALITY_CHECK_FAILED,
                str(outcome.address),
                f"{outcome.address}: {len(failed)} contract check(s) failed; nothing was published",
                audience,
                {**details, "checks": failed},
                key,
            )
        ]
    title = f"{outcome.address}: the build {'was refused' if outcome.refused else 'failed'}"
    return [Notification(EventKind.BUILD_FAILED, str(outcome.address), title, audience, details, key)]


def _request_audience(graph: MeshGraph, request: AccessRequest) -> frozenset[str]:
    port = Address.parse(request.port)
    return frozenset({user(request.requester), *product_audience(graph, [port])})


def access_notice(graph: MeshGraph, kind: EventKind, request: AccessRequest) -> Notification:
    """Access requested (the owners decide), decided (approved or denied) or revoked (a grant ends)."""
    verb = {
        EventKind.ACCESS_REQUESTED: "requests",
        EventKind.ACCESS_DECIDED: request.status.value,
        EventKind.ACCESS_REVOKED: "revoked",
    }.get(kind, kind.value)
    if kind is EventKind.ACCESS_REQUESTED:
        title = f"{request.requester} requests access to {request.port}: {request.purpose}"
    elif kind is EventKind.ACCESS_REVOKED:
        title = f"{request.requester}'s access to {request.port} was revoked by {request.decided_by}"
    else:
        title = f"{request.requester}'s request for {request.port} was {verb} by {request.decided_by}"
    details = {
        "request": request.id,
        "requester": request.requester,
        "port": request.port,
        "purpose": request.purpose,
        "status": request.status.value,
        "columns": list(request.columns),
        "decided_by": request.decided_by,
        "note": request.note,
        "until": request.until.isoformat() if request.until else None,
    }
    return Notification(
        kind,
        request.port,
        title,
        _request_audience(graph, request),
        details,
        f"{kind.value}:{request.id}:{request.status.value}",
    )


def agreement_notice(
    graph: MeshGraph,
    kind: EventKind,
    *,
    consumer: Address,
    port: Address,
    agreement_id: str,
    actor: str,
    note: str = "",
) -> Notification:
    """A product agreement (one product reading another's port) requested or revoked: both products hear."""
    what = "requests" if kind is EventKind.AGREEMENT_REQUESTED else "lost"
    title = f"{consumer} {what} its agreement to read {port}" + (f" (by {actor})" if actor else "")
    audience = frozenset(product_audience(graph, [consumer, port]))
    details = {"agreement": agreement_id, "consumer": str(consumer), "port": str(port), "actor": actor, "note": note}
    return Notification(kind, str(port), title, audience, details, f"{kind.value}:{agreement_id}")


def breaking_notices(service: NotificationService, diffs: Iterable[PortDiff]) -> list[Notification]:
    """Breaking changes of a port's contract with the diff: *proposed* (blocked: no new major version yet) or
    *published* (a new major version), told to the port's consumers and its owners."""
    found = []
    for diff in diffs:
        if not diff.breaking or diff.old_version is None:
            continue
        body = diff.as_json()
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        audience = frozenset(service.consumers(diff.port) | service.owners(diff.port))
        if diff.needs_major:
            kind, title = (
                EventKind.BREAKING_CHANGE_PROPOSED,
                (
                    f"{diff.port}: breaking change proposed ({diff.old_version} -> {diff.new_version}), "
                    "blocked until it takes a new major version"
                ),
            )
        else:
            kind, title = (
                EventKind.BREAKING_CHANGE_PUBLISHED,
                (f"{diff.port}: breaking change published as {diff.new_version} (was {diff.old_version})"),
            )
        found.append(
            Notification(
                kind,
                str(diff.port),
                title,
                audience,
                {"diff": body},
                f"{kind.value}:{diff.port}:{diff.new_version}:{digest}",
            )
        )
    return found
