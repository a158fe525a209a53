"""What ``/metrics`` reports, aggregated from the catalog at scrape time.

Builds, checks and queries are recorded in the catalog by whichever process ran them (a CLI build, the
scheduler, any server worker), so counting there gives one consistent answer however many processes serve
the mesh. Each figure is one aggregate query; the scheduler stores its last round in ``mp_settings``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meshplane.catalog import schema
from meshplane.catalog.database import Database

__all__ = ["BUILD_BUCKETS", "QUERY_BUCKETS", "Histogram", "MetricsSnapshot", "MetricsStore"]

SCHEDULER_KEY = "scheduler_round"
BUILD_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)  # seconds
QUERY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)  # seconds


@dataclass(frozen=True)
class Histogram:
    """Cumulative counts per upper bound (``+Inf`` is ``count``), and the sum of observations."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    total: float


@dataclass(frozen=True)
class MetricsSnapshot:
    builds: dict[tuple[str, str], int]  # (product, status) -> runs
    build_seconds: dict[str, Histogram]  # status -> durations of finished runs
    checks: dict[tuple[str, str], int]  # (outcome passed|failed, severity) -> results
    queries: dict[str, int]  # decision (allowed, denied, rejected, error, ...) -> queries
    query_seconds: Histogram
    slo_states: dict[tuple[str, str], str]  # (port, slo) -> latest status
    active_grants: int
    deliveries: dict[str, int]  # status -> notification deliveries
    scheduler: dict[str, Any] = field(default_factory=dict)  # last round: at, due, lag_seconds


def _duration(dialect: str, start: sa.ColumnElement[Any], end: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if dialect == "sqlite":
        return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0
    return sa.func.extract("epoch", end - start)


def _histogram(
    conn: Connection,
    value: sa.ColumnElement[Any],
    bounds: Sequence[float],
    *where: Any,
    group: sa.ColumnElement[Any] | None = None,
) -> dict[Any, Histogram]:
    columns: list[Any] = [sa.func.sum(sa.case((value <= b, 1), else_=0)) for b in bounds]
    columns += [sa.func.count(), sa.func.coalesce(sa.func.sum(value), 0.0)]
    query = sa.select(*(([group] if group is not None else []) + columns)).where(value.is_not(None), *where)
    if group is not None:
        query = query.group_by(group)
    found: dict[Any, Histogram] = {}
    for row in conn.execute(query).all():
        values = list(row)
        key = values.pop(0) if group is not None else None
        *counts, count, total = values
        found[key] = Histogram(
            tuple((b, int(c or 0)) for b, c in zip(bounds, counts, strict=True)), int(count), float(total)
        )
    return found


class MetricsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def record_scheduler_round(self, at: datetime, due: int, lag_seconds: float) -> None:
        value = json.dumps({"at": at.timestamp(), "due": due, "lag_seconds": lag_seconds})

        def work(conn: Connection) -> None:
            conn.execute(sa.delete(schema.settings).where(schema.settings.c.key == SCHEDULER_KEY))
            conn.execute(sa.insert(schema.settings), {"key": SCHEDULER_KEY, "value": value})

        self._db.write(work)

    def snapshot(self, now: datetime) -> MetricsSnapshot:
        runs, checks, log, slo, grants = (
            schema.runs,
            schema.check_results,
            schema.query_log,
            schema.slo_evaluations,
            schema.grants,
        )
        dialect = self._db.dialect
        with self._db.read() as conn:
            builds = {
                (str(p), str(s)): int(n)
                for p, s, n in conn.execute(
                    sa.select(runs.c.product, runs.c.status, sa.func.count()).group_by(runs.c.product, runs.c.status)
                )
            }
            seconds = _histogram(
                conn,
                _duration(dialect, runs.c.started_at, runs.c.ended_at),
                BUILD_BUCKETS,
                runs.c.ended_at.is_not(None),
                group=runs.c.status,
            )
            outcome = sa.case((checks.c.passed, "passed"), else_="failed")
            check_counts = {
                (str(o), str(s)): int(n)
                for o, s, n in conn.execute(
                    sa.select(outcome, checks.c.severity, sa.func.count()).group_by(outcome, checks.c.severity)
                )
            }
            queries = {
                str(d): int(n)
                for d, n in conn.execute(sa.select(log.c.decision, sa.func.count()).group_by(log.c.decision))
            }
            latency = _histogram(conn, log.c.duration_ms / 1000.0, QUERY_BUCKETS).get(None) or Histogram(
                tuple((b, 0) for b in QUERY_BUCKETS), 0, 0.0
            )
            latest = (
                sa.select(slo.c.port, slo.c.slo, sa.func.max(slo.c.id).label("id"))
                .group_by(slo.c.port, slo.c.slo)
                .subquery()
            )
            states = {
                (str(p), str(k)): str(s)
                for p, k, s in conn.execute(
                    sa.select(slo.c.port, slo.c.slo, slo.c.status).join(latest, slo.c.id == latest.c.id)
                )
            }
            active = conn.execute(
                sa.select(sa.func.count())
                .select_from(grants)
                .where(grants.c.revoked_at.is_(None), sa.or_(grants.c.expires_at.is_(None), grants.c.expires_at > now))
            ).scalar_one()
            d = schema.deliveries
            deliveries = {
                str(s): int(n) for s, n in conn.execute(sa.select(d.c.status, sa.func.count()).group_by(d.c.status))
            }
            stored = conn.execute(
                sa.select(schema.settings.c.value).where(schema.settings.c.key == SCHEDULER_KEY)
            ).scalar_one_or_none()
        return MetricsSnapshot(
            builds,
            {str(k): v for k, v in seconds.items()},
            check_counts,
            queries,
            latency,
            states,
            int(active),
            deliveries,
            json.loads(stored) if stored else {},
        )
