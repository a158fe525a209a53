"""Notifications use cases: emit (into the catalog's outbox), deliver (signed webhooks, e-mail, retried with
exponential backoff, every attempt logged), and each user's inbox (time-based events: workspace/reminders.py).

Emitting never raises and never waits for a receiver: it is one insert. Delivery runs elsewhere, in
``meshplane notify deliver`` or the background loop of ``meshplane serve``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from meshplane.graph import MeshGraph
from meshplane.notifications import (
    Notification,
    SmtpServer,
    backoff_delay,
    product_audience,
    route,
    send_email,
    send_webhook,
    team,
    user,
)
from meshplane.notifications.routing import reach
from meshplane.spec.models import EmailChannel, NotificationsConfig
from meshplane.types import Address
from meshplane.workspace.logs import log_event
from meshplane.workspace.platform import Platform

if TYPE_CHECKING:
    from meshplane.catalog.notifications import Due, NotificationRecord, NotificationStore

__all__ = ["DeliveryReport", "NotificationService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.failed


class NotificationService:
    def __init__(self, graph: MeshGraph, platform: Platform, environ: Mapping[str, str] = os.environ) -> None:
        self.graph = graph
        self.platform = platform
        self.environ = environ

    @property
    def config(self) -> NotificationsConfig:
        return self.graph.spec.config.notifications

    @property
    def store(self) -> NotificationStore:
        return self.platform.catalog.notifications

    @cached_property
    def teams_of(self) -> dict[str, frozenset[str]]:
        return {t.name: frozenset(m.username for m in t.members) for t in self.graph.spec.config.teams}

    def principals_of(self, username: str) -> set[str]:
        """Everything a user's inbox shows notifications for: the user, their teams, their teams' products."""
        teams = {name for name, members in self.teams_of.items() if username in members}
        owned = {f"product:{a}" for a, p in self.graph.products.items() if p.team in teams}
        return {user(username), *(team(t) for t in teams), *owned}

    # --- emit ------------------------------------------------------------------------------------------

    def emit(self, notification: Notification) -> NotificationRecord | None:
        """Store it and its deliveries, due now; never raises (a notification must not fail what it reports on)."""
        try:
            from meshplane.catalog.notifications import PlannedDelivery

            targets = route(notification, self.config, self.teams_of, self.environ)
            return self.store.add(
                kind=notification.kind.value,
                subject=notification.subject,
                title=notification.title,
                payload=notification.payload(self.graph.spec.config.name),
                audience=reach(notification.audience, self.teams_of),
                at=datetime.now(UTC),
                deliveries=[PlannedDelivery(t.channel, t.channel_type, t.subscriber) for t in targets],
                dedupe_key=notification.dedupe_key,
            )
        except Exception as error:
            log.warning("notification %s on %s not stored: %s", notification.kind.value, notification.subject, error)
            return None

    def inbox(self, username: str, limit: int = 100) -> list[NotificationRecord]:
        return self.store.notifications(audience=self.principals_of(username), limit=limit)

    # --- deliver -----------------------------------------------------------------------------------------

    def deliver(self, now: datetime | None = None, *, limit: int = 100) -> DeliveryReport:
        """Attempt every due delivery once; each attempt is logged, failures are rescheduled or given up."""
        from meshplane.catalog.notifications import AttemptRecord, DeliveryStatus

        at = now or datetime.now(UTC)
        retry = self.config.retry
        delivered = retrying = failed = 0
        for due in self.store.due(at, limit):
            lease = at + timedelta(seconds=retry.timeout_seconds * 3 + 30)
            if not self.store.claim(due.delivery, lease):
                continue  # another deliverer took it
            result_ok, seconds, code, error = self._send(due)
            attempt = due.delivery.attempts + 1
            record = AttemptRecord(due.delivery.id, attempt, datetime.now(UTC), result_ok, seconds, code, error)
            if result_ok:
                status, next_at = DeliveryStatus.DELIVERED, None
                delivered += 1
            elif attempt >= retry.attempts:
                status, next_at = DeliveryStatus.FAILED, None
                failed += 1
            else:
                status = DeliveryStatus.PENDING
                next_at = record.at + timedelta(seconds=backoff_delay(attempt, retry.backoff_seconds))
                retrying += 1
            self.store.record_attempt(record, status=status, next_attempt_at=next_at)
            log_event(
                "notification_delivery",
                delivery=due.delivery.id,
                kind=due.notification.kind,
                channel=due.delivery.channel,
                attempt=attempt,
                ok=result_ok,
                status=status,
                error=error,
            )
        return DeliveryReport(delivered, retrying, failed)

    def _send(self, due: Due) -> tuple[bool, float, int | None, str | None]:
        channel = self.config.channels.get(due.delivery.channel)
        if channel is None:
            return False, 0.0, None, f"channel {due.delivery.channel} is no longer in mesh.yaml"
        notification = due.notification
        body = {"id": notification.id, "created_at": notification.created_at.isoformat(), **notification.payload}
        timeout = self.config.retry.timeout_seconds
        if isinstance(channel, EmailChannel):
            return self._email(channel, due, body, timeout)
        url = channel.url or (self.environ.get(channel.url_env) if channel.url_env else None)
        secret = self.environ.get(channel.secret_env)
        if not url:
            return False, 0.0, None, f"channel {due.delivery.channel}: no URL (set {channel.url_env or 'url'})"
        if not secret:
            return False, 0.0, None, f"channel {due.delivery.channel}: set {channel.secret_env} to the signing secret"
        data = json.dumps(body, sort_keys=True, default=str).encode()
        result = send_webhook(
            url, data, secret=secret.encode(), event=notification.kind, delivery_id=due.delivery.id, timeout=timeout
        )
        return result.ok, result.seconds, result.status_code, result.error

    def _email(
        self, channel: EmailChannel, due: Due, body: Mapping[str, Any], timeout: float
    ) -> tuple[bool, float, int | None, str | None]:
        smtp = self.config.smtp
        if smtp is None:
            return False, 0.0, None, "an e-mail channel needs notifications.smtp in mesh.yaml"
        to = list(channel.to) or self._addresses(due.delivery.subscriber)
        if not to:
            return False, 0.0, None, f"no e-mail address for {due.delivery.subscriber} (add it under users:)"
        server = SmtpServer(
            smtp.host,
            smtp.port,
            smtp.sender,
            smtp.starttls,
            self.environ.get(smtp.username_env) if smtp.username_env else None,
            self.environ.get(smtp.password_env) if smtp.password_env else None,
        )
        text = f"{due.notification.title}\n\n{json.dumps(body, indent=2, sort_keys=True, default=str)}\n"
        result = send_email(
            server,
            to,
            f"[{self.graph.spec.config.name}] {due.notification.title}",
            text,
            timeout=timeout,
            headers={"X-Meshplane-Event": due.notification.kind},
        )
        return result.ok, result.seconds, result.status_code, result.error

    def _addresses(self, subscriber: str) -> list[str]:
        emails = {u.username: u.email for u in self.graph.spec.config.users if u.email}
        kind, _, name = subscriber.partition(":")
        if kind == "user":
            return [emails[name]] if name in emails else []
        if kind == "team":
            return sorted(emails[m] for m in self.teams_of.get(name, ()) if m in emails)
        return []

    # --- who a port's change concerns --------------------------------------------------------------------

    def consumers(self, port: Address) -> set[str]:
        """Products reading the port (with their teams) and users holding a grant on it."""
        readers = [edge.consumer for edge in self.graph.consumers_of_port(port)]
        found = product_audience(self.graph, readers)
        try:
            found |= {user(g.grantee) for g in self.platform.catalog.reader.grants(port=str(port))}
        except Exception as error:  # no catalog yet: the products still hear of it
            log.debug("grants of %s not read: %s", port, error)
        return found

    def owners(self, address: Address) -> set[str]:
        return product_audience(self.graph, [address])

    def emitted(self, notification: Notification) -> int:
        """1 when stored, 0 when told before (same dedupe key) or not stored."""
        return 1 if self.emit(notification) is not None else 0


def notify_all(service: NotificationService | None, notifications: Iterable[Notification]) -> None:
    if service is not None:
        for notification in notifications:
            service.emit(notification)
