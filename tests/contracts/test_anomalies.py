"""The seasonal anomaly model: a drop is flagged, a weekly pattern is not, short histories are not judged, and an
anomaly that goes on keeps the run where it started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meshplane.contracts.anomalies import Observation, SeasonalModel, judge_series

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
