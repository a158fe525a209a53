"""Overdue scheduled builds: a product whose first schedule tick after its last successful build is older than the
grace is overdue; its owners and consumers hear of it once per overdue period (``build_overdue``), from the
notification scan and from the scheduler's rounds, over a signed webhook on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from builds.meshes import write_mesh
from lineage.receiver import receiver
from meshplane.builds.schedule import grace_of, overdue_products
from meshplane.types import Address, EventKind
from meshplane.workspace import Mesh
from meshplane.workspace.reminders import tell_overdue

from .test_webhooks import SECRET, deliver_all, notifications_yaml, signed_bodies

EVENTS = Address("podcasts", "listening_events")
HOURLY = "0 * * * *"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


def test_grace_is_a_quarter_of_the_interval_between_a_minute_and_an_hour() -> None:
    assert grace_of(HOURLY, at(10)) == timedelta(minutes=15)
    assert grace_of("0 3 * * *", at(3)) == timedelta(hours=1)
    assert grace_of("* * * * *", at(10)) == timedelta(minutes=1)


def test_overdue_counts_from_the_first_tick_missed_after_the_last_build(tmp_path: Path) -> None:
    with Mesh.open(write_mesh(tmp_path / "mesh", schedule=HOURLY)) as mesh:
        graph = mesh.graph
    built = at(10, 5)
    # 11:00 is the first tick after the build; the build may still be running until 11:15.
    assert overdue_products(graph, lambda a: built, at(11, 14)) == []
    [late] = overdue_products(graph, lambda a: built, at(11, 20))
    assert (late.address, late.missed, late.last_built, late.overdue_for) == (EVENTS, at(11), built,
                                                                               timedelta(minutes=5))  # fmt: skip
    # Hours later it is still the same overdue period: the same first missed tick.
    [later] = overdue_products(graph, lambda a: built, at(15, 40))
    assert later.missed == at(11)
    # Built at 11:05 (late but built): nothing is overdue until 12:15.
    assert overdue_products(graph, lambda a: at(11, 5), at(12, 10)) == []
    # Never built: overdue once the latest tick is older than the grace.
    assert overdue_products(graph, lambda a: None, at(11, 10)) == []
    assert [o.missed for o in overdue_products(graph, lambda a: None, at(11, 30))] == [at(11)]


def test_an_overdue_build_reaches_a_subscribed_webhook_once_per_period(tmp_path: Path) -> None:
    with receiver() as got:
        root = write_mesh(tmp_path / "mesh", schedule=HOURLY)
        with (root / "mesh.yaml").open("a") as handle:
            handle.write(notifications_yaml(got.url, "    - {subscriber: team:podcasts-team, events: "
                                                     "[build_overdue], channel: hook}\n"))  # fmt: skip
        with Mesh.open(root) as mesh:
            assert mesh.build([str(EVENTS)]).ok
            built = mesh.last_built(EVENTS)
            assert built is not None
            [first] = overdue_products(mesh.graph, lambda a: built, built + timedelta(days=1))
            missed = first.missed  # the first tick after the build
            # The scan (beside `meshplane serve` and `notify deliver`): within the grace nothing; then once.
            mesh.deliver_notifications(missed + timedelta(minutes=10))
            assert got.requests == []
            mesh.deliver_notifications(missed + timedelta(minutes=20))
            mesh.deliver_notifications(missed + timedelta(hours=3))  # the same period: not told again
            deliver_all(mesh)
            # The scheduler's round tells it too, with the same key: still once.
            assert tell_overdue(mesh.notifications, mesh.last_built, missed + timedelta(hours=5)) == 0
            # A successful build ends the period; the next missed tick starts a new one.
            assert tell_overdue(mesh.notifications, lambda a: missed + timedelta(minutes=30),
                                missed + timedelta(hours=2, minutes=20)) == 1  # fmt: skip
            deliver_all(mesh)
            owner_inbox = {r.kind for r in mesh.notifications.inbox("alice")}
            outsider_inbox = {r.kind for r in mesh.notifications.inbox("gina")}
        bodies = signed_bodies(got)
    assert [b["kind"] for b in bodies] == [EventKind.BUILD_OVERDUE.value] * 2
    details = bodies[0]["details"]
    assert details["product"] == str(EVENTS) and details["schedule"] == HOURLY  # type: ignore[index]
    assert details["missed_tick"] == missed.isoformat()  # type: ignore[index]
    assert details["last_built"] == built.isoformat()  # type: ignore[index]
    assert details["overdue_seconds"] == 5 * 60  # type: ignore[index]
    assert "team:podcasts-team" in bodies[0]["audience"]  # type: ignore[operator]
    assert bodies[1]["details"]["missed_tick"] == (missed + timedelta(hours=1)).isoformat()  # type: ignore[index]
    assert "build_overdue" in owner_inbox and "build_overdue" not in outsider_inbox


def test_the_scheduler_tells_an_overdue_build_in_its_round(tmp_path: Path) -> None:
    """The scheduler's round (here 20 minutes past a tick of a never-built product) tells it before building."""
    with receiver() as got:
        root = write_mesh(tmp_path / "mesh", schedule=HOURLY)
        with (root / "mesh.yaml").open("a") as handle:
            handle.write(notifications_yaml(got.url, "    - {subscriber: team:podcasts-team, events: "
                                                     "[build_overdue], channel: hook}\n"))  # fmt: skip
        late = datetime.now(UTC).replace(minute=20, second=0, microsecond=0) + timedelta(hours=2)
        rounds: list[datetime] = []

        def clock() -> datetime:
            rounds.append(late)
            return late

        with Mesh.open(root) as mesh:
            mesh.run_scheduler(interval=0, stop=lambda: len(rounds) >= 1, sleep=lambda s: None, clock=clock)
            assert [r.product for r in mesh.runs()] == [str(EVENTS)]  # then built it
            deliver_all(mesh)
        [body] = signed_bodies(got)
    assert body["kind"] == "build_overdue" and body["details"]["last_built"] is None  # type: ignore[index]
    assert body["details"]["missed_tick"] == late.replace(minute=0).isoformat()  # type: ignore[index]
