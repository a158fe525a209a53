"""Builds record profiles; a drop in rows against the port's own history is an anomaly, told once to the
port's subscribers through the notifications outbox (and not again while it goes on)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from builds.meshes import EVENTS, write_events, write_mesh
from meshplane.catalog import ProfileRecord, RunRecord, RunStatus
from meshplane.catalog.reader import CatalogReader
from meshplane.contracts.anomalies import SeasonalModel
from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners

PORT = "podcasts.listening_events.listening_events"
PRODUCT = "podcasts.listening_events"
SUBSCRIPTIONS = """\
notifications:
  channels:
    mail: {type: email}
  smtp: {host: 127.0.0.1, port: 2525, sender: meshplane@example.com}
  subscriptions:
    - {subscriber: team:podcasts-team, events: [anomaly_detected], channel: mail}
"""


def _history(mesh: Mesh, latest: ProfileRecord, weeks: int = 4) -> None:
    """Daily builds for ``weeks`` weeks before ``latest``, each with its row count and columns."""
    writer = mesh.platform.catalog.writer
    for day in range(weeks * 7, 0, -1):
        at = latest.profiled_at - timedelta(days=day)
        run = f"hist{day:03d}"
        writer.record_run(RunRecord(run, PRODUCT, RunStatus.SUCCESS, at, ended_at=at, rows_written=latest.row_count,
                                    engine="duckdb", trigger="schedule"))  # fmt: skip
        writer.record_profiles([ProfileRecord(PORT, run, at, latest.row_count, latest.columns)])


def _anomaly_notices(mesh: Mesh) -> list[object]:
    return list(mesh.platform.catalog.notifications.notifications(kind="anomaly_detected", limit=100))


def test_a_drop_in_rows_is_flagged_and_told_once(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "mesh")
    with (root / "mesh.yaml").open("a") as handle:
        handle.write(SUBSCRIPTIONS)
    with Mesh.open(root) as mesh:
        mesh.publish()
        agree_declared_as_owners(mesh.graph, mesh.access)
        assert mesh.build([f"+{PRODUCT}"]).ok
        first = mesh.profile(PORT)
        assert first is not None and first.row_count == EVENTS
        assert {c["name"] for c in first.columns} == {"event_id", "listener_id", "show_id", "seconds"}
        assert mesh.anomalies([PRODUCT]) == []  # one build: nothing to judge against
        _history(mesh, first)

        write_events(root, rows=EVENTS // 4)  # the source delivers a quarter of its usual rows
        assert mesh.build([PRODUCT]).ok
        latest = mesh.profile(PORT)
        assert latest is not None and latest.row_count == EVENTS // 4
        found = [a for a in mesh.anomalies([PRODUCT]) if a.metric == "row_count"]
        assert [a.run_id for a in found] == [latest.run_id]
        assert found[0].seasonal and found[0].expected == EVENTS and found[0].observed == EVENTS // 4

        told = _anomaly_notices(mesh)
        assert len(told) == 1
        notice = told[0]
        assert notice.subject == PORT  # type: ignore[attr-defined]
        assert notice.payload["details"]["metric"] == "row_count"  # type: ignore[attr-defined]
        assert "team:podcasts-team" in notice.audience  # type: ignore[attr-defined]
        # the subscription planned a delivery of it
        assert mesh.platform.catalog.notifications.due(latest.profiled_at + timedelta(minutes=5))

        # the same low count on the next build: the same anomaly goes on, nobody is told twice
        assert mesh.build_plan(mesh.plan([PRODUCT], force=True)).ok
        again = [a for a in mesh.anomalies([PRODUCT]) if a.metric == "row_count"]
        assert len(again) == 2 and {a.started_run for a in again} == {latest.run_id}
        assert len(_anomaly_notices(mesh)) == 1


def test_usual_rows_raise_nothing(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "mesh")
    with Mesh.open(root) as mesh:
        mesh.publish()
        agree_declared_as_owners(mesh.graph, mesh.access)
        assert mesh.build([f"+{PRODUCT}"]).ok
        first = mesh.profile(PORT)
        assert first is not None
        _history(mesh, first)
        write_events(root, rows=EVENTS + 2)  # ordinary variation
        assert mesh.build([PRODUCT]).ok
        assert [a for a in mesh.anomalies([PRODUCT]) if a.metric == "row_count"] == []
        assert _anomaly_notices(mesh) == []
        assert len(mesh.profiles(PORT)) == 4 * 7 + 2


def test_a_build_judges_only_its_own_profile_however_long_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each build used to judge the port's last 30 profiles again, each against all before it: the build's cost
    # grew with the number of builds. A build's judgement is one per series (row count, freshness, each column's
    # null share) whatever the history holds.
    root = write_mesh(tmp_path / "mesh")
    with Mesh.open(root) as mesh:
        mesh.publish()
        agree_declared_as_owners(mesh.graph, mesh.access)
        assert mesh.build([f"+{PRODUCT}"]).ok
        first = mesh.profile(PORT)
        assert first is not None
        _history(mesh, first, weeks=16)
        judged: list[str] = []
        original = SeasonalModel.judge

        def counting(self: SeasonalModel, port: str, metric: str, *args: Any, **kwargs: Any) -> Any:
            judged.append(metric)
            return original(self, port, metric, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(SeasonalModel, "judge", counting)
        read: list[int] = []  # profiles read with their columns
        profiles = CatalogReader.profiles

        def reading(self: CatalogReader, port: str, *, limit: int = 200, **kwargs: Any) -> Any:
            found = profiles(self, port, limit=limit, **kwargs)
            read.append(len(found))
            return found

        monkeypatch.setattr(CatalogReader, "profiles", reading)
        write_events(root, rows=EVENTS + 2)
        assert mesh.build([PRODUCT]).ok
        series = 2 + len(first.columns)  # row count, freshness, one null share per column
        assert len(judged) == series, sorted(judged)
        # at most eight weeks back (the reference: eight builds of the same weekday), of the 16 weeks stored
        assert len(read) == 1 and read[0] <= 8 * 7 + 2, read
