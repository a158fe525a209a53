"""The seasonal anomaly model: a drop is flagged, a weekly pattern is not, short histories are not judged, and an
anomaly that goes on keeps the run where it started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from meshplane.contracts.anomalies import Anomaly, Observation, SeasonalModel, judge_latest, judge_series

START = datetime(2026, 10, 5, 6, 0, tzinfo=UTC)  # a Monday


def _weekly(days: int, *, weekday: float = 1000.0, weekend: float = 200.0) -> list[Observation]:
    """Daily builds with a strong weekly season (weekends are quiet) and a little noise."""
    found = []
    for day in range(days):
        at = START + timedelta(days=day)
        base = weekend if at.weekday() >= 5 else weekday
        found.append(Observation(at, base + (day * 7 % 11) - 5, f"r{day}"))
    return found


def test_weekly_season_is_not_an_anomaly() -> None:
    series = _weekly(42)
    assert judge_series(SeasonalModel(), "p.q.r", "row_count", None, series, last=42) == []
    # the same history judged without the season (all recent points) would cry wolf every weekend
    flat = SeasonalModel(weekly=False)
    assert judge_series(flat, "p.q.r", "row_count", None, series, last=14)


def test_an_injected_drop_is_flagged() -> None:
    series = _weekly(36)
    wednesday = series[-1].at + timedelta(days=1)
    while wednesday.weekday() != 2:
        wednesday += timedelta(days=1)
    series.append(Observation(wednesday, 310.0, "drop"))
    found = judge_series(SeasonalModel(), "p.q.r", "row_count", None, series, last=1)
    assert len(found) == 1
    anomaly = found[0]
    assert anomaly.run_id == "drop" and anomaly.seasonal
    assert anomaly.observed == 310.0 and 990 <= anomaly.expected <= 1010 and anomaly.low > 310
    assert "row count dropped 310" in anomaly.describe() and "same weekday" in anomaly.describe()


def test_too_short_a_history_is_not_judged() -> None:
    # two weeks: 14 points, but only two of the next point's weekday
    series = [*_weekly(14), Observation(START + timedelta(days=14), 1.0, "early")]
    assert judge_series(SeasonalModel(), "p.q.r", "row_count", None, series, last=1) == []
    week_three = [*_weekly(21), Observation(START + timedelta(days=21), 1.0, "judged")]
    assert [a.run_id for a in judge_series(SeasonalModel(), "p.q.r", "row_count", None, week_three, last=1)] == [
        "judged"]  # fmt: skip


def test_a_lasting_drop_keeps_its_first_run() -> None:
    series = [Observation(START + timedelta(days=d), 1000.0 + d % 3, f"r{d}") for d in range(30)]
    series += [Observation(START + timedelta(days=30 + d), 100.0, f"low{d}") for d in range(3)]
    found = judge_series(SeasonalModel(), "p.q.r", "row_count", None, series, last=3)
    assert [a.run_id for a in found] == ["low0", "low1", "low2"]
    assert {a.started_run for a in found} == {"low0"}


def test_null_share_only_rising_and_freshness_only_late() -> None:
    shares = [Observation(START + timedelta(days=d), 0.02, f"r{d}") for d in range(28)]
    fewer = [*shares, Observation(START + timedelta(days=28), 0.0, "fewer")]
    more = [*shares, Observation(START + timedelta(days=28), 0.3, "more")]
    assert judge_series(SeasonalModel(), "p.q.r", "null_share", "c", fewer, last=1) == []
    assert [a.run_id for a in judge_series(SeasonalModel(), "p.q.r", "null_share", "c", more, last=1)] == ["more"]
    day = 86_400.0
    gaps = [Observation(START + timedelta(days=d), day, f"r{d}") for d in range(28)]
    early = [*gaps, Observation(START + timedelta(days=28), day / 4, "early")]
    late = [*gaps, Observation(START + timedelta(days=30), 3 * day, "late")]
    assert judge_series(SeasonalModel(), "p.q.r", "freshness", None, early, last=1) == []
    assert [a.run_id for a in judge_series(SeasonalModel(), "p.q.r", "freshness", None, late, last=1)] == ["late"]


class _CountingModel(SeasonalModel):
    """The seasonal model, counting its judgements (how much work telling one build's anomalies costs)."""

    judged: list[int]

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "judged", [])

    def judge(self, *args: Any, **kwargs: Any) -> Anomaly | None:
        self.judged.append(1)
        return super().judge(*args, **kwargs)


def test_judging_the_newest_point_finds_what_judging_the_window_finds() -> None:
    # normal days, a lasting drop (its first run is kept), a recovery, a one-day jump, a drop, a jump right after
    values = [1000.0 + d % 5 for d in range(40)] + [100.0] * 4 + [1000.0] * 3 + [5000.0] + [1000.0] * 2
    values += [100.0, 5000.0, 5000.0]
    series = [Observation(START + timedelta(days=d), v, f"r{d}") for d, v in enumerate(values)]
    for end in range(1, len(series) + 1):
        window = judge_series(SeasonalModel(), "p.q.r", "row_count", None, series[:end], last=30)
        expected = [a for a in window if a.run_id == series[end - 1].run_id]
        found = judge_latest(SeasonalModel(), "p.q.r", "row_count", None, series[:end], last=30)
        assert ([found] if found else []) == expected, end
    lasting = judge_latest(SeasonalModel(), "p.q.r", "row_count", None, series[:44], last=30)
    assert lasting is not None and lasting.run_id == "r43" and lasting.started_run == "r40"


def test_a_normal_build_is_judged_once_however_long_its_history() -> None:
    # The judgement of one build must not grow with the port's history (it did: the last 30 points were judged
    # again on every build, each against all the points before it).
    for days in (10, 60, 120):
        series = _weekly(days)
        model = _CountingModel()
        assert judge_latest(model, "p.q.r", "row_count", None, series) is None
        assert len(model.judged) == 1


def test_the_newest_point_needs_only_its_span_of_the_history() -> None:
    # A build reads only the profiles the judgement of its own point needs: judged on that span, the point gets
    # the same answer as judged on the whole history.
    model = SeasonalModel()
    daily = _weekly(120)
    drop = Observation(daily[-1].at + timedelta(days=7), 100.0, "drop")
    hourly = [Observation(START + timedelta(hours=h), 1000.0 + h % 3, f"h{h}") for h in range(120)]
    for series in (daily, [*daily, drop], _weekly(10), hourly, [*hourly, Observation(START, 1.0, "x")][:60]):
        span = model.span([o.at for o in series])
        whole = judge_latest(model, "p.q.r", "row_count", None, series, last=1)
        assert judge_latest(model, "p.q.r", "row_count", None, series[-span:], last=1) == whole
    assert model.span([o.at for o in daily]) == 7 * 8 + 1  # eight weeks of daily builds and the newest
    assert model.span([o.at for o in hourly]) == len(hourly)  # fewer than eight of its weekday: all of them
    found = judge_latest(model, "p.q.r", "row_count", None, [*daily, drop], last=1)
    assert found is not None and found.run_id == "drop"
