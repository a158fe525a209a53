"""Anomalies against a port's own history: what fixed contract thresholds miss.

A simple seasonal model, robust to the outliers it looks for: a point is compared with the median of the
same weekday's earlier points (the last :attr:`SeasonalModel.seasons` of them), scaled by their median
absolute deviation (MAD x 1.4826, the normal-consistent spread). Nothing is judged before the history holds
:attr:`SeasonalModel.min_history` points and :attr:`SeasonalModel.min_same_weekday` of the point's weekday
(three weeks of daily builds): judging a quiet Saturday against weekdays would cry wolf every weekend. A
relative floor on the spread keeps a perfectly flat history from flagging a one-row change.

Judged per port: the row count (a drop or a jump), freshness (the time since the previous build: only
lateness) and each column's null share (only a rise).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

__all__ = ["Anomaly", "Metric", "Observation", "SeasonalModel", "judge_latest", "judge_series"]

Metric = Literal["row_count", "freshness", "null_share"]
Direction = Literal["both", "up"]
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class Observation:
    at: datetime
    value: float
    run_id: str


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One point far from what the port's history expects."""

    port: str
    metric: Metric
    column: str | None
    run_id: str
    at: datetime
    observed: float
    expected: float
    low: float  # the band the model expected the point in
    high: float
    score: float  # robust z-score: (observed - expected) / spread
    seasonal: bool  # compared with the same weekday (True) or with all recent points (False)
    history: int  # how many points the reference held
    started_run: str = ""  # the first run of this anomaly when it spans consecutive runs (one notification)

    @property
    def what(self) -> str:
        return {"row_count": "row count", "freshness": "time since the previous build",
                "null_share": f"null share of {self.column}"}[self.metric]  # fmt: skip

    def _fmt(self, value: float) -> str:
        if self.metric == "null_share":
            return f"{100 * value:.1f} %"
        if self.metric == "freshness":
            hours = value / 3600
            return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"
        return f"{value:,.0f}"

    def describe(self) -> str:
        """One line a person reads: what, how far from expected, and against what."""
        basis = "same weekday" if self.seasonal else "recent builds"
        verb = "rose" if self.observed > self.expected else "dropped"
        if self.metric == "freshness":
            verb = "was"
        band = f"{self._fmt(self.low)} to {self._fmt(self.high)}"
        expected = f"expected about {self._fmt(self.expected)} ({band}, median of {self.history} {basis} builds)"
        return f"{self.what} {verb} {self._fmt(self.observed)}; {expected}"


@dataclass(frozen=True)
class SeasonalModel:
    min_history: int = 8  # points before anything is judged
    min_same_weekday: int = 3  # same-weekday points for the seasonal reference
    seasons: int = 8  # the newest same-weekday points used (the reference follows slow trends)
    recent: int = 28  # the newest points used when not seasonal
    threshold: float = 3.5  # robust z-score beyond which a point is an anomaly (Iglewicz and Hoaglin)
    weekly: bool = True  # False: compare with all recent points (no season), for series without one

    def reference(self, history: Sequence[Observation], at: datetime) -> tuple[list[float], bool] | None:
        """The values a point at ``at`` is compared with, and whether they are the same weekday's."""
        if len(history) < self.min_history:
            return None
        if not self.weekly:
            return [h.value for h in history][-self.recent :], False
        same = [h.value for h in history if h.at.weekday() == at.weekday()]
        if len(same) >= self.min_same_weekday:
            return same[-self.seasons :], True
        return None

    def span(self, times: Sequence[datetime]) -> int:
        """How many of the newest points (``times``, oldest first, the last one being judged) the judgement of
        the newest point reads: itself and its reference (all of them when the reference is not complete)."""
        if len(times) <= self.min_history:
            return len(times)
        if not self.weekly:
            return min(len(times), self.recent + 1)
        weekday = times[-1].weekday()
        found = 0
        for index in range(len(times) - 2, -1, -1):
            if times[index].weekday() == weekday:
                found += 1
                if found == self.seasons:
                    return max(len(times) - index, self.min_history + 1)
        return len(times)

    def judge(
        self,
        port: str,
        metric: Metric,
        column: str | None,
        history: Sequence[Observation],
        point: Observation,
        *,
        floor: Callable[[float], float],
        direction: Direction,
    ) -> Anomaly | None:
        """``point`` against ``history`` (older points, oldest first); None when it is normal or unjudged."""
        found = self.reference(history, point.at)
        if found is None:
            return None
        values, seasonal = found
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values)
        spread = max(_MAD_TO_SIGMA * mad, floor(median))
        score = (point.value - median) / spread
        flagged = abs(score) > self.threshold if direction == "both" else score > self.threshold
        if not flagged:
            return None
        band = self.threshold * spread
        return Anomaly(port, metric, column, point.run_id, point.at, point.value, median,
                       max(0.0, median - band), median + band, round(score, 2), seasonal, len(values))  # fmt: skip


_FLOORS: dict[Metric, Callable[[float], float]] = {
    # a flat history still tolerates 5 % more or fewer rows per spread unit (17.5 % at the threshold)
    "row_count": lambda median: max(1.0, 0.05 * abs(median)),
    # ten minutes or 10 % of the usual interval
    "freshness": lambda median: max(600.0, 0.10 * median),
    # one percentage point
    "null_share": lambda median: 0.01,
}
_DIRECTIONS: dict[Metric, Direction] = {"row_count": "both", "freshness": "up", "null_share": "up"}


def _judge_point(model: SeasonalModel, port: str, metric: Metric, column: str | None,
                 series: Sequence[Observation], index: int) -> Anomaly | None:  # fmt: skip
    """Point ``index`` of ``series`` judged against the points before it."""
    return model.judge(port, metric, column, series[:index], series[index],
                       floor=_FLOORS[metric], direction=_DIRECTIONS[metric])  # fmt: skip


def judge_series(
    model: SeasonalModel,
    port: str,
    metric: Metric,
    column: str | None,
    series: Sequence[Observation],
    *,
    last: int = 30,
) -> list[Anomaly]:
    """The anomalous points among the ``last`` of ``series`` (oldest first), each judged against the points
    before it; an anomaly that goes on over consecutive points keeps the run where it started (``started_run``)."""
    found: list[Anomaly] = []
    previous: Anomaly | None = None
    for index in range(max(0, len(series) - last), len(series)):
        anomaly = _judge_point(model, port, metric, column, series, index)
        if anomaly is None:
            previous = None
            continue
        same_way = previous is not None and (previous.observed > previous.expected) == (
            anomaly.observed > anomaly.expected)  # fmt: skip
        started = previous.started_run if same_way and previous is not None else anomaly.run_id
        anomaly = replace(anomaly, started_run=started)
        found.append(anomaly)
        previous = anomaly
    return found


def judge_latest(
    model: SeasonalModel,
    port: str,
    metric: Metric,
    column: str | None,
    series: Sequence[Observation],
    *,
    last: int = 30,
) -> Anomaly | None:
    """The newest point of ``series`` judged as :func:`judge_series` judges it (same ``started_run``), or None.

    A build tells only its own run's anomalies: judging the ``last`` points on every build would cost each one
    ``last`` judgements. Here the newest point is judged once; only when it is an anomaly are the points before
    it judged, newest first, while they are anomalies the same way (that is where the anomaly started)."""
    if not series:
        return None
    newest = len(series) - 1
    anomaly = _judge_point(model, port, metric, column, series, newest)
    if anomaly is None:
        return None
    rising = anomaly.observed > anomaly.expected
    started = anomaly.run_id
    for index in range(newest - 1, max(0, len(series) - last) - 1, -1):
        earlier = _judge_point(model, port, metric, column, series, index)
        if earlier is None or (earlier.observed > earlier.expected) != rising:
            break
        started = earlier.run_id
    return replace(anomaly, started_run=started)
