"""Cron schedules without an external orchestrator.

A product is due when its cron expression has ticked since its last successful build. However many ticks
were missed while the scheduler was down, the product is built once: only the latest tick counts.

A product is *overdue* when the first tick after its last successful build (or tick found up to date: what
``last_built`` answers) is older than a grace period (a quarter of the schedule's interval, at least a minute
and at most an hour): the scheduler did not run, or its builds failed. An overdue period lasts until the next
successful build; its key is that first missed tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meshplane.graph import MeshGraph
from meshplane.types import Address

__all__ = [
    "DueProduct",
    "OverdueProduct",
    "due_products",
    "grace_of",
    "next_tick",
    "overdue_products",
    "previous_tick",
    "run_scheduler",
]


@dataclass(frozen=True)
class DueProduct:
    address: Address
    tick: datetime
    last_built: datetime | None


def previous_tick(cron: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` at which ``cron`` fires."""
    from croniter import croniter

    # get_prev is strictly before: a clock reading exactly on a tick would miss it until the next poll.
    tick: datetime = croniter(cron, now + timedelta(microseconds=1)).get_prev(datetime)
    return tick


def next_tick(cron: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which ``cron`` fires."""
    from croniter import croniter

    tick: datetime = croniter(cron, after).get_next(datetime)
    return tick


MIN_GRACE = timedelta(minutes=1)
MAX_GRACE = timedelta(hours=1)


def grace_of(cron: str, tick: datetime) -> timedelta:
    """How long after ``tick`` a build may still finish before the product counts as overdue: a quarter of
    the schedule's interval at that tick, between :data:`MIN_GRACE` and :data:`MAX_GRACE`."""
    interval = next_tick(cron, tick) - tick
    return max(MIN_GRACE, min(MAX_GRACE, interval / 4))


@dataclass(frozen=True)
class OverdueProduct:
    address: Address
    schedule: str
    missed: datetime  # the first tick without a successful build after it (the latest tick if never built)
    last_built: datetime | None
    overdue_for: timedelta  # how long past the missed tick and its grace


def overdue_products(
    graph: MeshGraph, last_built: Callable[[Address], datetime | None], now: datetime | None = None
) -> list[OverdueProduct]:
    """Scheduled products whose first tick after their last successful build is older than its grace."""
    moment = now or datetime.now(UTC)
    found: list[OverdueProduct] = []
    for address in graph.order:
        cron = graph.products[address].schedule
        if cron is None:
            continue
        built = last_built(address)
        missed = previous_tick(cron, moment) if built is None else next_tick(cron, built)
        late = moment - missed - grace_of(cron, missed)
        if missed <= moment and late > timedelta(0):
            found.append(OverdueProduct(address, cron, missed, built, late))
    return found


def due_products(
    graph: MeshGraph, last_built: Callable[[Address], datetime | None], now: datetime | None = None
) -> list[DueProduct]:
    """Scheduled products whose latest tick is newer than their last successful build, in build order."""
    moment = now or datetime.now(UTC)
    due: list[DueProduct] = []
    for address in graph.order:
        cron = graph.products[address].schedule
        if cron is None:
            continue
        tick = previous_tick(cron, moment)
        built = last_built(address)
        if built is None or built < tick:
            due.append(DueProduct(address, tick, built))
    return due


def run_scheduler(
    find_due: Callable[[datetime], list[DueProduct]],
    build: Callable[[list[Address]], object],
    *,
    interval: float = 30.0,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Poll every ``interval`` seconds and build what is due, until ``stop()`` says so."""
    while not stop():
        due = find_due(clock())
        if due:
            build([d.address for d in due])
        if stop():
            break
        sleep(interval)
