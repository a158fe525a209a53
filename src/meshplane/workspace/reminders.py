"""Time-based notifications, found by a periodic scan (``meshplane notify deliver`` and ``meshplane serve``
run it): access expiring soon, deprecation dates approaching, SLOs at risk or breached. Each is told once
(a dedupe key per grant, old major and SLO state per day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meshplane.notifications import Notification, user
from meshplane.types import Address, EventKind
from meshplane.workspace.notifying import NotificationService
from meshplane.workspace.quality import QualityService

__all__ = ["scan"]


def scan(service: NotificationService, now: datetime | None = None) -> int:
    """Access expiring soon, deprecation dates approaching, SLOs at risk or breached: each told once."""
    at = now or datetime.now(UTC)
    window = timedelta(days=service.config.warn_days)
    emitted = 0
    for grant in service.platform.catalog.reader.grants(active_at=at):
        if grant.expires_at is not None and grant.expires_at - at <= window:
            port = Address.parse(grant.port)
            emitted += service.emitted(
                Notification(
                    EventKind.ACCESS_EXPIRING,
                    grant.port,
                    f"{grant.grantee}'s access to {grant.port} expires on {grant.expires_at.date().isoformat()}",
                    frozenset({user(grant.grantee), *service.owners(port)}),
                    {
                        "grant": grant.id,
                        "grantee": grant.grantee,
                        "port": grant.port,
                        "expires_at": grant.expires_at.isoformat(),
                    },
                    dedupe_key=f"access_expiring:{grant.id}:{grant.expires_at.isoformat()}",
                )
            )
    quality = QualityService(service.graph, service.platform)
    for status in quality.status(list(service.graph.products), now=at):
        for old in status.old_majors:
            if old.deprecation is None or old.expired or old.deprecation - at.date() > window:
                continue
            emitted += service.emitted(
                Notification(
                    EventKind.DEPRECATION_APPROACHING,
                    str(old.port),
                    f"{old.port} v{old.major} stops being served after {old.deprecation.isoformat()}",
                    frozenset(service.consumers(old.port) | service.owners(old.port)),
                    {
                        "port": str(old.port),
                        "major": old.major,
                        "deprecation_date": old.deprecation.isoformat(),
                        "current_version": status.version,
                    },
                    dedupe_key=f"deprecation:{old.port}:{old.major}:{old.deprecation.isoformat()}",
                )
            )
        for result in status.results:
            kind = {"at_risk": EventKind.SLO_AT_RISK, "breached": EventKind.SLO_BREACHED}.get(result.status.value)
            if kind is None:
                continue
            emitted += service.emitted(
                Notification(
                    kind,
                    str(status.port),
                    f"{status.port}: {result.slo.kind.value} SLO {result.status.value}: {result.message}",
                    frozenset(service.consumers(status.port) | service.owners(status.port)),
                    {
                        "port": str(status.port),
                        "slo": result.slo.kind.value,
                        "property": result.slo.name,
                        "target": result.slo.target_text,
                        "observed": result.observed,
                        "status": result.status.value,
                    },
                    dedupe_key=f"slo:{status.port}:{result.slo.name}:{result.status.value}:{at.date()}",
                )
            )
    return emitted
