"""Which ready product a parallel build starts first: the one heading the longest chain of work still to do.

With ``--jobs 2`` and ten ready products, starting a large product last leaves one worker idle while it runs
alone at the end (on TPC-H, ``lineitem`` started after ``orders`` made the whole build wait ~0.25 s for it).
Like Ninja's critical-path scheduling, each planned product gets a priority: its own expected cost plus the
largest priority among the planned products that read it; ready products start highest priority first, ties
in plan order.

A product's expected cost is the duration of its last successful run when the catalog has one (an append
product's last run is an append, like its next), otherwise an estimate from the bytes it reads: its local file
sources as the plan found them, and each planned upstream's estimate (what it writes is taken to be about
what it reads). Published upstreams that are not rebuilt add nothing: only relative order matters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from meshplane.builds.plan import BuildPlan
from meshplane.graph import MeshGraph
from meshplane.types import Address

__all__ = ["BYTES_PER_SECOND", "estimated_costs", "priorities"]

BYTES_PER_SECOND = 100e6
"""What a transform reads per second when no run says better: a DuckDB transform on this kind of machine reads
TPC-H's Parquet at 90-110 MB/s. Only the ratio between products matters, so a rough figure is enough."""

_FIXED_SECONDS = 0.02
"""What any product's build costs besides reading (a tiny product's build: the transform's round trip, checks,
publish), so that products reading nothing still rank by how many follow them."""


def estimated_costs(
    plan: BuildPlan, graph: MeshGraph, last_seconds: Callable[[list[Address]], Mapping[Address, float]]
) -> dict[Address, float]:
    """Each planned product's expected seconds: ``last_seconds`` (the last successful run of each, where known),
    otherwise its bytes read at :data:`BYTES_PER_SECOND`."""
    known = last_seconds([item.address for item in plan.items])
    read: dict[Address, float] = {}  # bytes, for the products without a run (plan order: upstreams first)
    costs: dict[Address, float] = {}
    for item in plan.items:
        if item.address in known:
            costs[item.address] = known[item.address]
            continue
        upstreams = graph.upstream_products(item.address)
        read[item.address] = item.source_bytes + sum(read.get(u, 0.0) for u in upstreams)
        costs[item.address] = _FIXED_SECONDS + read[item.address] / BYTES_PER_SECOND
    return costs


def priorities(plan: BuildPlan, graph: MeshGraph, costs: Mapping[Address, float]) -> dict[Address, float]:
    """Each planned product's cost plus the largest priority of the planned products that read it."""
    planned = {item.address for item in plan.items}
    readers: dict[Address, list[Address]] = {}
    for address in planned:
        for upstream in graph.upstream_products(address) & planned:
            readers.setdefault(upstream, []).append(address)
    found: dict[Address, float] = {}
    for item in reversed(plan.items):  # plan order lists every upstream before its readers
        after = max((found[r] for r in readers.get(item.address, ())), default=0.0)
        found[item.address] = costs.get(item.address, _FIXED_SECONDS) + after
    return found
