"""The notification outbox: notifications, their deliveries per subscribed channel, and the delivery log.

Emitting a notification is one short insert (the notification and its pending deliveries, one transaction),
so builds and queries never wait for a receiver; a deliverer claims due deliveries, records every attempt
and schedules the next one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meshplane.catalog import schema
from meshplane.catalog.database import Database

__all__ = ["AttemptRecord", "DeliveryRecord", "DeliveryStatus", "NotificationRecord", "NotificationStore"]


_INBOX_WINDOW = 10_000


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed: given up


@dataclass(frozen=True)
class NotificationRecord:
    id: str
    kind: str
    created_at: datetime
    subject: str
    title: str
    payload: Mapping[str, Any]
    audience: tuple[str, ...]
    dedupe_key: str | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    id: str
    notification_id: str
    channel: str
    channel_type: str
    subscriber: str
    status: str
    attempts: int
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class AttemptRecord:
    delivery_id: str
    attempt: int
    at: datetime
    ok: bool
    seconds: float
    status_code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class PlannedDelivery:
    channel: str
    channel_type: str
    subscriber: str


@dataclass(frozen=True)
class Due:
    delivery: DeliveryRecord
    notification: NotificationRecord = field(repr=False)


def _notification(row: Any) -> NotificationRecord:
    return NotificationRecord(
        row.id, row.kind, row.created_at, row.subject, row.title, dict(row.payload), tuple(row.audience), row.dedupe_key
    )


def _delivery(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        row.id,
        row.notification_id,
        row.channel,
        row.channel_type,
        row.subscriber,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.delivered_at,
        row.last_error,
    )


class NotificationStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        kind: str,
        subject: str,
        title: str,
        payload: Mapping[str, Any],
        audience: Iterable[str],
        at: datetime,
        deliveries: Sequence[PlannedDelivery] = (),
        dedupe_key: str | None = None,
    ) -> NotificationRecord | None:
        """Store a notification and its pending deliveries; None when ``dedupe_key`` was already stored."""
        record = NotificationRecord(
            uuid.uuid4().hex, kind, at, subject, title, dict(payload), tuple(sorted(set(audience))), dedupe_key
        )

        def work(conn: Connection) -> NotificationRecord | None:
            if dedupe_key is not None:
                found = conn.execute(
                    sa.select(schema.notifications.c.id).where(schema.notifications.c.dedupe_key == dedupe_key)
                ).first()
                if found is not None:
                    return None
            conn.execute(
                sa.insert(schema.notifications).values(
                    id=record.id,
                    kind=kind,
                    created_at=at,
                    subject=subject,
                    title=title,
                    payload=record.payload,
                    audience=list(record.audience),
                    dedupe_key=dedupe_key,
                )
            )
            if deliveries:
                conn.execute(
                    sa.insert(schema.deliveries),
                    [
                        {
                            "id": uuid.uuid4().hex,
                            "notification_id": record.id,
                            "channel": d.channel,
                            "channel_type": d.channel_type,
                            "subscriber": d.subscriber,
                            "status": DeliveryStatus.PENDING,
                            "attempts": 0,
                            "next_attempt_at": at,
                        }
                        for d in deliveries
                    ],
                )
            return record

        return self._db.write(work)

    def due(self, now: datetime, limit: int = 100) -> list[Due]:
        """Pending deliveries whose next attempt is due, oldest first, with their notifications."""
        d, n = schema.deliveries, schema.notifications
        query = (
            sa.select(d, n.c.kind, n.c.created_at, n.c.subject, n.c.title, n.c.payload, n.c.audience, n.c.dedupe_key)
            .join(n, n.c.id == d.c.notification_id)
            .where(d.c.status == DeliveryStatus.PENDING, d.c.next_attempt_at <= now)
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [
            Due(
                _delivery(r),
                NotificationRecord(
                    r.notification_id,
                    r.kind,
                    r.created_at,
                    r.subject,
                    r.title,
                    dict(r.payload),
                    tuple(r.audience),
                    r.dedupe_key,
                ),
            )
            for r in rows
        ]

    def record_attempt(self, attempt: AttemptRecord, *, status: str, next_attempt_at: datetime | None) -> None:
        """Log one attempt and move its delivery on (delivered, retried at ``next_attempt_at``, or failed)."""

        def work(conn: Connection) -> None:
            conn.execute(
                sa.insert(schema.delivery_attempts).values(
                    delivery_id=attempt.delivery_id,
                    attempt=attempt.attempt,
                    at=attempt.at,
                    ok=attempt.ok,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    seconds=attempt.seconds,
                )
            )
            conn.execute(
                sa.update(schema.deliveries)
                .where(schema.deliveries.c.id == attempt.delivery_id)
                .values(
                    attempts=attempt.attempt,
                    status=status,
                    next_attempt_at=next_attempt_at,
                    delivered_at=attempt.at if attempt.ok else None,
                    last_error=attempt.error,
                )
            )

        self._db.write(work)

    def claim(self, delivery: DeliveryRecord, until: datetime) -> bool:
        """Take a due delivery for one attempt: another deliverer sees it again only after ``until`` (so a
        deliverer that dies mid-attempt delays the delivery, never loses it)."""
        d = schema.deliveries

        def work(conn: Connection) -> bool:
            done = conn.execute(
                sa.update(d)
                .where(
                    d.c.id == delivery.id,
                    d.c.status == DeliveryStatus.PENDING,
                    d.c.attempts == delivery.attempts,
                    d.c.next_attempt_at == delivery.next_attempt_at,
                )
                .values(next_attempt_at=until)
            )
            return bool(done.rowcount)

        return self._db.write(work)

    def notifications(
        self, *, audience: Iterable[str] | None = None, kind: str | None = None, limit: int = 100
    ) -> list[NotificationRecord]:
        """Newest first; ``audience`` keeps those addressed to any of these principals (an inbox)."""
        n = schema.notifications
        query = sa.select(n).order_by(n.c.created_at.desc(), n.c.id)
        if kind is not None:
            query = query.where(n.c.kind == kind)
        wanted = None if audience is None else set(audience)
        # An inbox filters the newest notifications in Python (the audience is a JSON list on both backends);
        # it looks at most _INBOX_WINDOW of them.
        window = limit if wanted is None else max(limit, _INBOX_WINDOW)
        with self._db.read() as conn:
            rows = conn.execute(query.limit(window)).all()
        found = [_notification(r) for r in rows]
        if wanted is not None:
            found = [r for r in found if wanted & set(r.audience)][:limit]
        return found

    def deliveries(self, notification_id: str | None = None) -> list[DeliveryRecord]:
        d = schema.deliveries
        query = sa.select(d).order_by(d.c.id)
        if notification_id is not None:
            query = query.where(d.c.notification_id == notification_id)
        with self._db.read() as conn:
            return [_delivery(r) for r in conn.execute(query).all()]

    def attempts(self, delivery_id: str | None = None) -> list[AttemptRecord]:
        a = schema.delivery_attempts
        query = sa.select(a).order_by(a.c.id)
        if delivery_id is not None:
            query = query.where(a.c.delivery_id == delivery_id)
        with self._db.read() as conn:
            return [
                AttemptRecord(r.delivery_id, r.attempt, r.at, r.ok, r.seconds, r.status_code, r.error)
                for r in conn.execute(query).all()
            ]

    def backlog(self) -> dict[str, int]:
        """Deliveries by status (for metrics)."""
        d = schema.deliveries
        with self._db.read() as conn:
            rows = conn.execute(sa.select(d.c.status, sa.func.count()).group_by(d.c.status)).all()
        return {str(status): int(count) for status, count in rows}
