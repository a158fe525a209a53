"""``GET /metrics``: Prometheus text format from prometheus_client, with figures aggregated from the catalog.

Counters come from the catalog's run, check and query tables, so they count every build and query whatever
process ran it (CLI, scheduler, any server worker); a scrape reads them at most once per
``MESHPLANE_METRICS_TTL`` seconds (default 5).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response

from meshplane.server.auth import Rule, allow

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from meshplane.catalog.metrics import Histogram, MetricsSnapshot
    from meshplane.catalog.store import CatalogStore

__all__ = ["CatalogCollector", "router"]

router = APIRouter()
TTL_ENV = "MESHPLANE_METRICS_TTL"  # seconds a scrape's catalog figures are reused (default 5)
_SLO_STATES = ("met", "at_risk", "breached", "unknown")


def _histogram_family(name: str, doc: str, labels: list[str]) -> Metric:
    from prometheus_client.core import HistogramMetricFamily

    return HistogramMetricFamily(name, doc, labels=labels)


def _add(family: Metric, labels: list[str], histogram: Histogram) -> None:
    buckets = [(repr(bound), count) for bound, count in histogram.buckets] + [("+Inf", histogram.count)]
    family.add_metric(labels, buckets, histogram.total)  # type: ignore[attr-defined]


class CatalogCollector:
    """A prometheus_client collector over one catalog (cached for a few seconds between scrapes)."""

    def __init__(self, catalog: CatalogStore, mesh: str) -> None:
        self.catalog = catalog
        self.mesh = mesh
        self._lock = threading.Lock()
        self._cached: tuple[float, MetricsSnapshot] | None = None
        self.ttl = float(os.environ.get(TTL_ENV) or 5.0)

    def snapshot(self) -> MetricsSnapshot:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.ttl:
                self._cached = (time.monotonic(), self.catalog.metrics.snapshot(datetime.now(UTC)))
            return self._cached[1]

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.snapshot()
        builds = CounterMetricFamily("meshplane_builds", "Product build runs by status.", labels=["product", "status"])
        for (product, status), count in sorted(s.builds.items()):
            builds.add_metric([product, status], count)
        yield builds
        durations = _histogram_family(
            "meshplane_build_duration_seconds", "Duration of finished build runs.", ["status"]
        )
        for status, histogram in sorted(s.build_seconds.items()):
            _add(durations, [status], histogram)
        yield durations
        checks = CounterMetricFamily(
            "meshplane_checks", "Contract check results by outcome.", labels=["outcome", "severity"]
        )
        for (outcome, severity), count in sorted(s.checks.items()):
            checks.add_metric([outcome, severity], count)
        yield checks
        queries = CounterMetricFamily("meshplane_queries", "Governed queries by outcome.", labels=["outcome"])
        for decision, count in sorted(s.queries.items()):
            queries.add_metric([decision], count)
        yield queries
        latency = _histogram_family("meshplane_query_duration_seconds", "Latency of governed queries.", [])
        _add(latency, [], s.query_seconds)
        yield latency
        slo = GaugeMetricFamily(
            "meshplane_slo_status", "1 for each port SLO's latest state.", labels=["port", "slo", "status"]
        )
        for (port, name), state in sorted(s.slo_states.items()):
            for candidate in _SLO_STATES:
                slo.add_metric([port, name, candidate], 1.0 if candidate == state else 0.0)
        yield slo
        yield GaugeMetricFamily("meshplane_active_grants", "Access grants in force now.", value=s.active_grants)
        deliveries = GaugeMetricFamily(
            "meshplane_notification_deliveries", "Notification deliveries by status.", labels=["status"]
        )
        for status in ("pending", "delivered", "failed"):
            deliveries.add_metric([status], s.deliveries.get(status, 0))
        yield deliveries
        if s.scheduler:
            yield GaugeMetricFamily(
                "meshplane_scheduler_lag_seconds",
                "How late the most overdue scheduled product was at the last round.",
                value=float(s.scheduler.get("lag_seconds", 0.0)),
            )
            yield GaugeMetricFamily(
                "meshplane_scheduler_due_products",
                "Products due at the last round.",
                value=float(s.scheduler.get("due", 0)),
            )
            yield GaugeMetricFamily(
                "meshplane_scheduler_last_round_timestamp_seconds",
                "When the scheduler last looked for due products.",
                value=float(s.scheduler.get("at", 0.0)),
            )


@router.get(
    "/metrics",
    summary="Prometheus metrics [authenticated]",
    include_in_schema=False,
    dependencies=[allow(Rule.AUTHENTICATED)],
)
def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = CollectorRegistry(auto_describe=False)
        mesh = request.app.state.mesh
        registry.register(CatalogCollector(mesh.platform.catalog, mesh.name))
        request.app.state.metrics_registry = registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
