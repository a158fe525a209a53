"""Cron schedules without an external orchestrator.

A product is due when its cron expression has ticked since its last successful build. However many ticks
were missed while the scheduler was down, the product is built once: only the latest tick counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from meshplane.graph import MeshGraph
from meshplane.types import Address

__all__ = ["DueProduct", "due_products", "previous_tick", "run_scheduler"]


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
