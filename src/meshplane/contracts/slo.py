"""Service-level objectives of a port, from its contract's ``slaProperties`` (pure: plain inputs, a given clock).

Evaluated kinds (anything else, e.g. ``retention`` or ``generalAvailability``, is not measured here):

- ``latency`` / ``freshness``: age of the current snapshot (now - last successful publish) <= target.
  At risk above 80 % of the target.
- ``frequency``: the port is republished at least every target. At risk while the next publish is late
  (age > target), breached when it is more than 1.5 x target late, so one slow build is not a breach.
- ``completeness``: percent of non-missing values, from the latest null / missing / required check
  results and the snapshot's row count (``element`` narrows it to one column). At risk when more than
  80 % of the allowed missing share is used.
- ``availability``: percent of recent builds that succeeded (``skipped`` builds do not count). At risk
  when the ratio still meets the target but the latest build failed (the data is going stale).

Durations take a value and a unit: ``s``, ``m``/``min`` (minutes), ``h``, ``d``, ``w``, ``mo`` (30 days),
``y``; ISO-8601 durations (``PT30M``) are read too. Percent targets accept ``99.5`` (with or without
``unit: percent``) or a fraction such as ``0.995``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from meshplane.types import TIME_UNIT_SECONDS

__all__ = [
    "AT_RISK_SHARE",
    "ColumnCompleteness",
    "PortHistory",
    "RunSample",
    "Slo",
    "SloKind",
    "SloResult",
    "SloStatus",
    "evaluate",
    "evaluate_all",
    "parse_duration",
    "parse_slos",
    "worst",
]

AT_RISK_SHARE = 0.8  # at risk once 80 % of the allowed budget (age, missing share) is used
FREQUENCY_GRACE = 1.5  # a publish later than 1.5 x the expected interval is a breach


class SloKind(StrEnum):
    LATENCY = "latency"
    FREQUENCY = "frequency"
    COMPLETENESS = "completeness"
    AVAILABILITY = "availability"


class SloStatus(StrEnum):
    MET = "met"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    UNKNOWN = "unknown"  # the target cannot be read, or nothing has been measured yet


_KINDS = {
    "latency": SloKind.LATENCY,
    "freshness": SloKind.LATENCY,
    "frequency": SloKind.FREQUENCY,
    "completeness": SloKind.COMPLETENESS,
    "availability": SloKind.AVAILABILITY,
    "uptime": SloKind.AVAILABILITY,
}
_SECONDS = TIME_UNIT_SECONDS
_ISO = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?"
    r"(?:(\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_ORDER = (SloStatus.MET, SloStatus.UNKNOWN, SloStatus.AT_RISK, SloStatus.BREACHED)


def parse_duration(value: Any, unit: str | None) -> timedelta:
    """``(1, "h")``, ``(30, "min")``, ``("PT30M", None)`` -> a timedelta; ValueError names what to write."""
    iso = _ISO.match(value.strip()) if isinstance(value, str) else None
    if iso is not None:
        weeks, days, hours, minutes, seconds = (float(g or 0) for g in iso.groups())
        total = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
        if total > timedelta(0):
            return total
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a duration; write a number with a unit (30 min, 1 h, 1 d)") from None
    factor = _SECONDS.get((unit or "").strip().lower())
    if factor is None:
        raise ValueError(f"unit {unit!r} is not a time unit; use s, m (minutes), h, d, w, mo or y")
    if not math.isfinite(amount) or amount <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return timedelta(seconds=amount * factor)


def _percent(value: Any, unit: str | None) -> float:
    amount = float(value)
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"a percent target must be between 0 and 100, got {value!r}")
    if (unit or "").strip().lower() not in ("%", "percent", "percentage") and amount <= 1:
        amount *= 100  # a fraction such as 0.995
    if amount > 100:
        raise ValueError(f"a percent target must be between 0 and 100, got {value!r}")
    return amount


@dataclass(frozen=True, slots=True)
class Slo:
    """One evaluable SLO: a duration target (latency, frequency) or a percent target (the others)."""

    kind: SloKind
    name: str  # the slaProperties property, as written
    value: Any
    unit: str | None
    index: int  # position in slaProperties, for locating problems
    element: str | None = None
    duration: timedelta | None = None
    percent: float | None = None
    problem: str | None = None  # why the target cannot be read (the SLO evaluates to unknown)

    @property
    def target_text(self) -> str:
        return f"{self.value} {self.unit or ''}".strip()


def parse_slos(sla_properties: Iterable[Mapping[str, Any] | Any]) -> list[Slo]:
    """The evaluable SLOs of ``slaProperties`` (dicts or ODCS models), in order; others are skipped."""
    slos: list[Slo] = []
    for index, raw in enumerate(sla_properties):
        item: Mapping[str, Any] = raw if isinstance(raw, Mapping) else raw.model_dump(exclude_none=True)
        name = str(item.get("property") or "")
        kind = _KINDS.get(name.lower())
        if kind is None:
            continue
        value, unit, element = item.get("value"), item.get("unit"), item.get("element")
        base = Slo(kind, name, value, unit, index, str(element) if element else None)
        try:
            if kind in (SloKind.LATENCY, SloKind.FREQUENCY):
                slos.append(replace(base, duration=parse_duration(value, unit)))
            else:
                slos.append(replace(base, percent=_percent(value, unit)))
        except (TypeError, ValueError) as error:
            slos.append(replace(base, problem=str(error)))
    return slos


@dataclass(frozen=True, slots=True)
class RunSample:
    """One build of the port's product: when it ended and whether it succeeded."""

    at: datetime
    succeeded: bool


@dataclass(frozen=True, slots=True)
class ColumnCompleteness:
    """The share of a column's rows that a null / missing / required check found missing (0..1)."""

    column: str
    missing_share: float
    check_id: str = ""


@dataclass(frozen=True, slots=True)
class PortHistory:
    """Everything the evaluation reads about one port, gathered by the caller."""

    now: datetime
    published_at: Sequence[datetime] = ()  # successful publishes (snapshot commit times), any order
    runs: Sequence[RunSample] = ()  # recent builds, any order
    completeness: Sequence[ColumnCompleteness] = ()  # from the latest checked run
    rows: int | None = None  # rows of the current snapshot

    @property
    def last_publish(self) -> datetime | None:
        return max(self.published_at) if self.published_at else None


@dataclass(frozen=True, slots=True)
class SloResult:
    slo: Slo
    status: SloStatus
    observed: float | None  # seconds for durations, percent otherwise
    target: float | None
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


def worst(statuses: Iterable[SloStatus]) -> SloStatus:
    """The most severe status (met < unknown < at_risk < breached); met when there is none."""
    return max(statuses, key=_ORDER.index, default=SloStatus.MET)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        days, rest = divmod(seconds, 86400)
        return f"{days}d" + (f" {rest // 3600}h" if rest >= 3600 else "")
    if seconds >= 3600:
        hours, rest = divmod(seconds, 3600)
        return f"{hours}h" + (f" {rest // 60}min" if rest >= 60 else "")
    return f"{seconds // 60}min" if seconds >= 60 else f"{seconds}s"


def evaluate(slo: Slo, history: PortHistory) -> SloResult:
    """Judge one SLO against a port's history at ``history.now``."""
    if slo.problem is not None:
        return SloResult(slo, SloStatus.UNKNOWN, None, None, f"{slo.name}: {slo.problem}")
    if slo.kind is SloKind.LATENCY:
        return _latency(slo, history)
    if slo.kind is SloKind.FREQUENCY:
        return _frequency(slo, history)
    if slo.kind is SloKind.COMPLETENESS:
        return _completeness(slo, history)
    return _availability(slo, history)


def evaluate_all(slos: Iterable[Slo], history: PortHistory) -> list[SloResult]:
    return [evaluate(slo, history) for slo in slos]


def _age_evidence(history: PortHistory) -> dict[str, Any]:
    last = history.last_publish
    if last is None:
        return {"last_publish": None}
    return {
        "last_publish": last.isoformat(timespec="seconds"),
        "age_seconds": round((history.now - last).total_seconds(), 3),
    }


def _latency(slo: Slo, history: PortHistory) -> SloResult:
    assert slo.duration is not None
    target = slo.duration.total_seconds()
    last = history.last_publish
    evidence = {**_age_evidence(history), "target_seconds": target}
    if last is None:
        return SloResult(slo, SloStatus.BREACHED, None, target, "never published", evidence)
    age = history.now - last
    if age > slo.duration:
        status = SloStatus.BREACHED
    elif age > slo.duration * AT_RISK_SHARE:
        status = SloStatus.AT_RISK
    else:
        status = SloStatus.MET
    message = f"last published {_human(age)} ago (target {_human(slo.duration)})"
    return SloResult(slo, status, age.total_seconds(), target, message, evidence)


def _frequency(slo: Slo, history: PortHistory) -> SloResult:
    assert slo.duration is not None
    expected = slo.duration
    last = history.last_publish
    times = sorted(history.published_at)
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    evidence: dict[str, Any] = {
        **_age_evidence(history),
        "expected_every_seconds": expected.total_seconds(),
        "publishes": len(times),
        "largest_gap_seconds": max(gaps) if gaps else None,
    }
    if last is None:
        return SloResult(slo, SloStatus.BREACHED, None, expected.total_seconds(), "never published", evidence)
    age = history.now - last
    if age > expected * FREQUENCY_GRACE:
        status, verdict = SloStatus.BREACHED, "overdue"
    elif age > expected:
        status, verdict = SloStatus.AT_RISK, "due"
    else:
        status, verdict = SloStatus.MET, "on time"
    message = f"{verdict}: expected every {_human(expected)}, last published {_human(age)} ago"
    return SloResult(slo, status, age.total_seconds(), expected.total_seconds(), message, evidence)


def _completeness(slo: Slo, history: PortHistory) -> SloResult:
    assert slo.percent is not None
    column = slo.element.rsplit(".", 1)[-1] if slo.element else None
    measured = [c for c in history.completeness if column is None or c.column == column]
    if not measured:
        where = f" of {column}" if column else ""
        return SloResult(
            slo,
            SloStatus.UNKNOWN,
            None,
            slo.percent,
            f"no null or missing-value checks{where} have run yet",
            {"rows": history.rows},
        )
    worst_column = max(measured, key=lambda c: c.missing_share)
    observed = round(100.0 * (1.0 - worst_column.missing_share), 6)
    allowed = 100.0 - slo.percent
    missing = 100.0 - observed
    if observed < slo.percent:
        status = SloStatus.BREACHED
    elif allowed > 0 and missing > allowed * AT_RISK_SHARE:
        status = SloStatus.AT_RISK
    else:
        status = SloStatus.MET
    evidence = {
        "rows": history.rows,
        "worst_column": worst_column.column,
        "check": worst_column.check_id,
        "columns": {c.column: round(100.0 * (1.0 - c.missing_share), 6) for c in measured},
    }
    message = f"{observed:.4g}% complete (worst column {worst_column.column}), target {slo.percent:g}%"
    return SloResult(slo, status, observed, slo.percent, message, evidence)


def _availability(slo: Slo, history: PortHistory) -> SloResult:
    assert slo.percent is not None
    runs = sorted(history.runs, key=lambda r: r.at)
    if not runs:
        return SloResult(slo, SloStatus.UNKNOWN, None, slo.percent, "no builds recorded yet", {"runs": 0})
    failed = sum(1 for r in runs if not r.succeeded)
    observed = round(100.0 * (len(runs) - failed) / len(runs), 6)
    latest_failed = not runs[-1].succeeded
    if observed < slo.percent:
        status = SloStatus.BREACHED
    elif latest_failed:
        status = SloStatus.AT_RISK
    else:
        status = SloStatus.MET
    evidence = {
        "runs": len(runs),
        "failed": failed,
        "failure_ratio": round(failed / len(runs), 6),
        "latest_failed": latest_failed,
        "since": runs[0].at.isoformat(timespec="seconds"),
    }
    message = f"{len(runs) - failed}/{len(runs)} recent builds succeeded ({observed:.4g}%), target {slo.percent:g}%"
    return SloResult(slo, status, observed, slo.percent, message, evidence)
