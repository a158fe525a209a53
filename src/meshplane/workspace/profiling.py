"""Port profiles over time: what each build measured, what a viewer may see of it, and the anomalies the
port's own history reveals (row count, freshness, null share), told once each to the port's subscribers.

Builds measure profiles with their contract checks (:mod:`meshplane.contracts.profile`) and store them with
the run (``CatalogWriter.finish_run``). What a viewer sees of a profile is decided by the access authority
(:meth:`~meshplane.access.authority.AccessAuthority.readable_values`) and applied by
:func:`~meshplane.access.disclosure.profile_for_viewer`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from meshplane.access.disclosure import profile_for_viewer
from meshplane.catalog import ProfileRecord
from meshplane.contracts.anomalies import Anomaly, Observation, SeasonalModel, judge_latest, judge_series
from meshplane.graph import MeshGraph
from meshplane.notifications import Notification
from meshplane.types import Address, EventKind
from meshplane.workspace.notifying import NotificationService
from meshplane.workspace.platform import Platform

__all__ = ["HISTORY", "ProfileService", "ProfileView", "anomalies_of", "anomaly_notice", "latest_anomalies"]

HISTORY = 120  # profiles per port a page or a judgement reads: four months of daily builds


@dataclass(frozen=True)
class ProfileView:
    """A product's ports: their latest profiles, their profile history (oldest first) and anomalies."""

    latest: Mapping[str, ProfileRecord]
    history: Mapping[str, tuple[ProfileRecord, ...]]
    anomalies: tuple[Anomaly, ...] = field(default=())


def _series(profiles: Sequence[ProfileRecord], *, append: bool) -> dict[tuple[str, str | None], list[Observation]]:
    """Row count, freshness and null-share series of one port (``profiles`` oldest first). An append port's
    table only grows, so its row-count series is what each build added."""
    found: dict[tuple[str, str | None], list[Observation]] = {("row_count", None): [], ("freshness", None): []}
    previous: ProfileRecord | None = None
    columns = [str(c.get("name")) for c in profiles[-1].columns] if profiles else []
    for profile in profiles:
        rows = float(profile.row_count - previous.row_count if append and previous is not None else profile.row_count)
        if not append or previous is not None:
            found["row_count", None].append(Observation(profile.profiled_at, rows, profile.run_id))
        if previous is not None:
            gap = (profile.profiled_at - previous.profiled_at).total_seconds()
            found["freshness", None].append(Observation(profile.profiled_at, gap, profile.run_id))
        for name in columns:
            share = profile.null_share(name)
            if share is not None:
                found.setdefault(("null_share", name), []).append(
                    Observation(profile.profiled_at, share, profile.run_id)
                )
        previous = profile
    return found


def anomalies_of(
    port: str, profiles: Sequence[ProfileRecord], *, append: bool = False, model: SeasonalModel | None = None,
    last: int = 30, now: datetime | None = None,
) -> list[Anomaly]:  # fmt: skip
    """Anomalies among the ``last`` profiles of ``port`` (``profiles`` oldest first), newest first. With ``now``,
    also whether the next build is overdue (a freshness anomaly of no run yet: ``run_id`` empty)."""
    chosen = model or SeasonalModel()
    found: list[Anomaly] = []
    for (metric, column), series in _series(profiles, append=append).items():
        found += judge_series(chosen, port, metric, column, series, last=last)  # type: ignore[arg-type]
        if metric == "freshness" and now is not None and profiles:
            waited = Observation(now, (now - profiles[-1].profiled_at).total_seconds(), "")
            late = chosen.judge(port, "freshness", None, series, waited, floor=lambda m: max(600.0, 0.1 * m),
                                direction="up")  # fmt: skip
            if late is not None:
                found.append(late)
    return sorted(found, key=lambda a: (a.at, a.metric, a.column or ""), reverse=True)


def latest_anomalies(
    port: str, profiles: Sequence[ProfileRecord], *, append: bool = False, model: SeasonalModel | None = None,
    last: int = 30,
) -> list[Anomaly]:  # fmt: skip
    """The anomalies of the newest profile of ``port`` (``profiles`` oldest first): those of
    :func:`anomalies_of` whose run is the newest one, found by judging only that run (see :func:`judge_latest`)."""
    chosen = model or SeasonalModel()
    found = []
    for (metric, column), series in _series(profiles, append=append).items():
        if series and profiles and series[-1].run_id == profiles[-1].run_id:
            anomaly = judge_latest(chosen, port, metric, column, series, last=last)  # type: ignore[arg-type]
            if anomaly is not None:
                found.append(anomaly)
    return sorted(found, key=lambda a: (a.metric, a.column or ""), reverse=True)


def anomaly_notice(service: NotificationService, anomaly: Anomaly) -> Notification:
    """One notification per anomaly: an anomaly that goes on over consecutive builds is told once (its key is
    the run where it started)."""
    port = Address.parse(anomaly.port)
    details = {
        "port": anomaly.port, "metric": anomaly.metric, "column": anomaly.column, "run_id": anomaly.run_id,
        "observed": anomaly.observed, "expected": anomaly.expected, "low": anomaly.low, "high": anomaly.high,
        "score": anomaly.score, "seasonal": anomaly.seasonal, "history": anomaly.history,
    }  # fmt: skip
    return Notification(
        EventKind.ANOMALY_DETECTED,
        anomaly.port,
        f"{anomaly.port}: {anomaly.describe()}",
        frozenset(service.consumers(port) | service.owners(port)),
        details,
        f"anomaly:{anomaly.port}:{anomaly.metric}:{anomaly.column or ''}:{anomaly.started_run or anomaly.run_id}",
    )


@dataclass
class ProfileService:
    graph: MeshGraph
    platform: Platform
    model: SeasonalModel = field(default_factory=SeasonalModel)

    def _append(self, port: str) -> bool:
        spec = self.graph.ports.get(Address.parse(port))
        return spec is not None and spec.refresh == "append"

    def history(self, port: str, *, limit: int = HISTORY) -> list[ProfileRecord]:
        """The port's profiles, oldest first (owner view: the caller decides what a viewer sees)."""
        return list(reversed(self.platform.catalog.reader.profiles(port, limit=limit)))

    def view(self, ports: Iterable[str], *, now: datetime | None = None) -> ProfileView:
        """Latest profiles, history and anomalies of ``ports``, in one catalog query."""
        history = {p: tuple(reversed(found)) for p, found in
                   self.platform.catalog.reader.profile_history(ports, per_port=HISTORY).items()}  # fmt: skip
        latest = {p: found[-1] for p, found in history.items() if found}
        anomalies = tuple(
            a for p, found in history.items()
            for a in anomalies_of(p, found, append=self._append(p), model=self.model, now=now)
        )  # fmt: skip
        return ProfileView(latest, history, anomalies)

    def notify(self, ports: Iterable[str], run_id: str, notifications: NotificationService) -> list[Anomaly]:
        """Judge the run's profile of each port against the port's history; tell each new anomaly once."""
        told: list[Anomaly] = []
        reader = self.platform.catalog.reader
        for port in ports:
            # Only this run is judged, against the profiles its reference needs (when each profile was taken
            # says how many: eight same-weekday builds back, plus one for the row count's and freshness's
            # differences). Judging the last 30 builds again, from the whole stored history, made each build's
            # cost grow with the port's history. An anomaly is judged again from the whole history, so one
            # that goes on keeps the run where it started.
            times = list(reversed(reader.profile_times(port, limit=HISTORY + 1)))
            needed = min(len(times), self.model.span(times) + 1)
            history = self.history(port, limit=needed)
            if not history or history[-1].run_id != run_id:
                continue
            append = self._append(port)
            found = latest_anomalies(port, history, append=append, model=self.model)
            if found and needed < len(times):
                found = latest_anomalies(port, self.history(port, limit=HISTORY + 1), append=append, model=self.model)
            for anomaly in found:
                notifications.emit(anomaly_notice(notifications, anomaly))
                told.append(anomaly)
        return told


def for_viewer(view: ProfileView, readable: Mapping[str, frozenset[str] | None]) -> Mapping[str, ProfileRecord]:
    """The latest profiles as a viewer may see them (``readable``: per port, the authority's answer)."""
    return {port: profile_for_viewer(profile, readable.get(port, frozenset())) for port, profile in view.latest.items()}
