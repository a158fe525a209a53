"""Schedules: due products under a fixed clock, missed ticks run once, `meshplane schedule --once`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from meshplane.builds.plan import Reason
from meshplane.builds.schedule import due_products, overdue_products, run_scheduler
from meshplane.types import Address
from meshplane.workspace import Mesh

from .meshes import EVENTS as EVENT_ROWS
from .meshes import write_events, write_mesh

EVENTS = Address("podcasts", "listening_events")
EVENTS_PORT = "podcasts.listening_events.listening_events"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


def hourly_away_from_now() -> str:
    """An hourly cron whose ticks fall half an hour from the wall clock, so none passes while a test runs.

    Tests that build on the real clock and then ask what is due would otherwise fail when an hour turns mid-test."""
    return f"{(datetime.now(UTC).minute + 30) % 60} * * * *"


def test_due_products_with_a_fixed_clock(tmp_path: Path) -> None:
    with Mesh.open(write_mesh(tmp_path / "mesh", schedule="0 * * * *")) as mesh:
        graph = mesh.graph
    never = due_products(graph, lambda a: None, at(10, 5))
    assert [(d.address, d.tick) for d in never] == [(EVENTS, at(10))]  # only the scheduled product
    assert due_products(graph, lambda a: at(10, 1), at(10, 59)) == []
    # Down from 10:01 to 13:10: three ticks were missed, the product is due once, for the latest tick.
    [due] = due_products(graph, lambda a: at(10, 1), at(13, 10))
    assert (due.tick, due.last_built) == (at(13), at(10, 1))


def test_scheduler_runs_missed_ticks_once_after_downtime(tmp_path: Path) -> None:
    with Mesh.open(write_mesh(tmp_path / "mesh", schedule="*/15 * * * *")) as mesh:
        graph = mesh.graph
    built: dict[Address, datetime] = {EVENTS: at(9, 50)}
    clock = iter([at(13, 7) + timedelta(minutes=i) for i in range(10)])
    now = [at(13, 7)]
    builds: list[tuple[datetime, list[Address]]] = []

    def tick() -> datetime:
        now[0] = next(clock)
        return now[0]

    def build(addresses: list[Address]) -> None:
        builds.append((now[0], addresses))
        for a in addresses:
            built[a] = now[0]

    run_scheduler(
        lambda moment: due_products(graph, built.get, moment),
        build,
        interval=0,
        stop=lambda: len(builds) >= 2 or now[0] >= at(13, 16),
        clock=tick,
        sleep=lambda s: None,
    )
    # 13 ticks were missed (10:00 .. 13:00): one build at 13:07, the next only after the 13:15 tick.
    assert builds == [(at(13, 7), [EVENTS]), (at(13, 15), [EVENTS])]


def test_run_due_and_schedule_once(tmp_path: Path, cli: Any) -> None:
    root = write_mesh(tmp_path / "mesh", schedule=hourly_away_from_now())
    first = cli("schedule", "--once", "--mesh", str(root))
    assert first.code == 0, first.stderr
    assert "1 scheduled product(s) built" in first.stdout
    again = cli("schedule", "--once", "--mesh", str(root))
    assert "0 scheduled product(s) built" in again.stdout
    with Mesh.open(root) as mesh:
        [run] = mesh.runs()
        assert (run.product, run.status.value, run.trigger) == ("podcasts.listening_events", "success", "schedule")
        assert mesh.run_due(datetime.now(UTC)) is None
        # An hour later the tick has passed, but nothing it reads changed: due, planned, up to date, not rebuilt.
        later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
        due, plan = mesh.plan_due(later)
        assert [d.address for d in due] == [EVENTS] and not plan
        # The tick is recorded as a skipped run: the product is current as of it, so neither due nor overdue.
        [skip, built] = mesh.runs()
        assert (skip.status.value, skip.trigger, skip.started_at) == ("skipped", "schedule", later)
        assert "up to date" in (skip.error or "") and built.status.value == "success"
        assert mesh.last_built(EVENTS) == later
        assert mesh.run_due(later) is None and len(mesh.runs()) == 2
        assert overdue_products(mesh.graph, mesh.last_built, later) == []  # its snapshot alone is an hour late
    # A new file of listens: the next tick rebuilds it, and only it (its consumers are not scheduled).
    write_events(root, 5, name="part-2.csv", start=EVENT_ROWS)
    with Mesh.open(root) as mesh:
        assert mesh.plan_due(later)[0] == []  # this tick found it current already: the change waits for the next
        next_tick = later + timedelta(hours=1)
        _, plan = mesh.plan_due(next_tick)
        assert [(i.address, i.reasons) for i in plan.items] == [(EVENTS, (Reason.SOURCE_CHANGED,))]
        result = mesh.run_due(next_tick)
        assert result is not None and [str(o.address) for o in result.outcomes] == ["podcasts.listening_events"]
        assert result.ok and mesh.read(EVENTS_PORT).num_rows == EVENT_ROWS + 5
        runs = sorted((r.status.value, r.trigger) for r in mesh.runs("podcasts.listening_events"))
        assert runs == [("skipped", "schedule"), ("success", "schedule"), ("success", "schedule")]


def test_the_scheduler_plans_an_unchanged_product_once_per_tick(tmp_path: Path, monkeypatch: Any) -> None:
    """Rounds every few seconds must not re-plan (fingerprint every source of) a due product found up to date."""
    root = write_mesh(tmp_path / "mesh", schedule=hourly_away_from_now())
    with Mesh.open(root) as mesh:
        assert mesh.build(["podcasts.listening_events"]).ok
        planned: list[list[str] | None] = []
        plan = mesh.plan

        def counted(selectors: list[str] | None = None, **options: Any) -> Any:
            planned.append(selectors)
            return plan(selectors, **options)

        monkeypatch.setattr(mesh, "plan", counted)
        later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
        moments = iter([later + timedelta(seconds=10 * i) for i in range(5)])
        rounds: list[float] = []
        mesh.run_scheduler(interval=0, stop=lambda: len(rounds) >= 4, sleep=rounds.append, clock=lambda: next(moments))
        assert planned == [["podcasts.listening_events"]]  # planned once in five rounds of the same tick
        assert [r.status.value for r in mesh.runs()] == ["skipped", "success"]  # not rebuilt


def test_serve_runs_the_scheduler_beside_the_portal(tmp_path: Path) -> None:
    """`meshplane serve` starts the scheduler: a due product is built without anyone running a build."""
    from meshplane.cli.serving import _start_scheduler

    root = write_mesh(tmp_path / "mesh", schedule="* * * * *")
    stop = _start_scheduler(root, interval=0.2)
    try:
        deadline = time.monotonic() + 60
        built = None
        while time.monotonic() < deadline and built is None:
            with Mesh.open(root) as mesh:
                built = mesh.last_built(Address("podcasts", "listening_events"))
            time.sleep(0.2)
    finally:
        stop.set()
    assert built is not None
    with Mesh.open(root) as mesh:
        assert [r.trigger for r in mesh.runs("podcasts.listening_events")] == ["schedule"]
