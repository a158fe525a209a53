"""Time-based notifications, found by a periodic scan (``meshplane notify deliver`` and ``meshplane serve``
run it): access expiring soon, deprecation dates approaching, SLOs at risk or breached, scheduled builds
overdue. Each is told once (a dedupe key per grant, old major, SLO state per day, and overdue period)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from meshplane.builds.schedule import OverdueProduct, overdue_products
from meshplane.notifications import Notification, user
from meshplane.types import Address, EventKind
from meshplane.workspace.notifying import NotificationService
from meshplane.workspace.quality import QualityService

__all__ = ["overdue_notice", "scan", "tell_overdue"]

LastBuilt = Callable[[Address], datetime | None]


def overdue_notice(service: NotificationService, overdue: OverdueProduct) -> Notification:
    """A scheduled product whose build is overdue, told once per overdue period (its key is the first missed
    tick, or ``never`` for a product never built): to its owners and its ports' consumers."""
    product = service.graph.products[overdue.address]
    audience = set(service.owners(overdue.address))
    for port in product.output_ports:
        audience |= service.consumers(Address(overdue.address.domain, overdue.address.product, port.name))
    built = overdue.last_built.isoformat() if overdue.last_built else None
    since = f"last built {built[:16].replace('T', ' ')} UTC" if built else "never built"
    return Notification(
        EventKind.BUILD_OVERDUE,
        str(overdue.address),
        f"{overdue.address}: scheduled build overdue ({since}; the {overdue.missed:%Y-%m-%d %H:%M} UTC tick "
        f"of '{overdue.schedule}' has no successful build)",
        frozenset(audience),
        {
            "product": str(overdue.address),
            "schedule": overdue.schedule,
            "missed_tick": overdue.missed.isoformat(),
            "last_built": built,
            "overdue_seconds": round(overdue.overdue_for.total_seconds(), 3),
        },
        dedupe_key=f"build_overdue:{overdue.address}:{overdue.missed.isoformat() if built else 'never'}",
    )


def tell_overdue(service: NotificationService, last_built: LastBuilt, now: datetime | None = None) -> int:
    """Scheduled products overdue at ``now`` (``last_built``: the scheduler's own answer), each period told once."""
    at = now or datetime.now(UTC)
    return sum(service.emitted(overdue_notice(service, o)) for o in overdue_products(service.graph, last_built, at))


def scan(service: NotificationService, now: datetime | None = None, *, last_built: LastBuilt | None = None) -> int:
    """Access expiring soon, deprecation dates approaching, SLOs at risk or breached, and (given
    ``last_built``, the scheduler's own answer) scheduled builds overdue: each told once."""
    at = now or datetime.now(UTC)
    emitted = tell_overdue(service, last_built, at) if last_built is not None else 0
    window = timedelta(days=service.config.warn_days)
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
