"""A parallel build starts the products heading the longest chain of expected work first (builds/ordering.py)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from meshplane.builds.execute import Builder, ProductOutcome, Status
from meshplane.builds.ordering import BYTES_PER_SECOND, estimated_costs, priorities
from meshplane.builds.plan import BuildPlan, PlannedProduct
from meshplane.graph import MeshGraph
from meshplane.types import Address
from meshplane.workspace import Mesh

from .meshes import write_mesh

# sales.lineitem and sales.orders read sources; revenue reads both; the small products read sources only.
LINEITEM, ORDERS, REVENUE = Address("sales", "lineitem"), Address("sales", "orders"), Address("sales", "revenue")
SMALL = [Address("customers", f"small_{n}") for n in range(4)]
UPSTREAMS = {REVENUE: {LINEITEM, ORDERS}}


class _Graph:
    """What ordering reads of a mesh graph: which planned products a product reads."""

    def upstream_products(self, address: Address) -> frozenset[Address]:
        return frozenset(UPSTREAMS.get(address, ()))


GRAPH = cast(MeshGraph, _Graph())


def _plan(sizes: Mapping[Address, int]) -> BuildPlan:
    items = tuple(PlannedProduct(a, (), {}, source_bytes=sizes.get(a, 0)) for a in [*SMALL, ORDERS, LINEITEM, REVENUE])
    return BuildPlan(items, tuple(i.address for i in items))


def test_priority_is_the_longest_chain_of_expected_work() -> None:
    costs = {LINEITEM: 2.0, ORDERS: 0.5, REVENUE: 0.6, **{a: 0.05 for a in SMALL}}
    found = priorities(_plan({}), GRAPH, costs)
    assert found[REVENUE] == pytest.approx(0.6)
    assert found[LINEITEM] == pytest.approx(2.6) and found[ORDERS] == pytest.approx(1.1)
    assert found[SMALL[0]] == pytest.approx(0.05)


def test_costs_come_from_the_last_run_else_from_the_bytes_read() -> None:
    plan = _plan({LINEITEM: 200_000_000, ORDERS: 50_000_000})
    costs = estimated_costs(plan, GRAPH, lambda products: {ORDERS: 3.0})
    assert costs[ORDERS] == 3.0  # a recorded run beats any estimate
    assert costs[LINEITEM] == pytest.approx(0.02 + 200_000_000 / BYTES_PER_SECOND)
    # revenue reads what its planned upstreams read (orders' bytes are known although its duration is recorded)
    assert costs[REVENUE] == pytest.approx(0.02 + 200_000_000 / BYTES_PER_SECOND)
    assert costs[SMALL[0]] == pytest.approx(0.02)


def _started_order(plan: BuildPlan, costs: Mapping[Address, float] | None, jobs: int) -> list[Address]:
    started: list[Address] = []
    lock = threading.Lock()
    builder = Builder(graph=GRAPH, store=cast(Any, None), engine_factory=cast(Any, None), checker=cast(Any, None),
                      inputs=cast(Any, None), costs=None if costs is None else lambda _: costs)  # fmt: skip

    def run_one(item: PlannedProduct) -> ProductOutcome:
        with lock:
            started.append(item.address)
        return ProductOutcome(item.address, Status.SUCCESS, 0.0, "run")

    builder._run_one = run_one  # type: ignore[method-assign]
    result = builder.run(plan, jobs=jobs)
    assert all(o.status is Status.SUCCESS for o in result.outcomes)
    return started


def test_a_parallel_build_starts_the_longest_chain_first() -> None:
    plan = _plan({})
    costs = {LINEITEM: 2.0, ORDERS: 0.5, REVENUE: 0.6, **{a: 0.05 for a in SMALL}}
    order = _started_order(plan, costs, jobs=2)
    assert set(order[:2]) == {LINEITEM, ORDERS}
    # revenue, released once both finish, heads a longer chain than the small products still waiting
    assert order.index(REVENUE) < order.index(SMALL[-1])
    # Without costs, or one product at a time, products start in plan order.
    assert _started_order(plan, None, jobs=2)[:2] == SMALL[:2]
    assert _started_order(plan, costs, jobs=1) == [i.address for i in plan.items]


def test_the_workspace_build_orders_by_the_catalogs_last_runs(tmp_path: Path) -> None:
    """A real mesh: after one build, each product's expected cost is its recorded run's duration."""
    root = write_mesh(tmp_path / "mesh")
    with Mesh.open(root) as mesh:
        mesh.build(raise_on_failure=True)
        plan = mesh.plan(full_refresh=True)
        costs = mesh.builds._expected_costs(plan)
        runs = {r.product: r for r in mesh.runs(limit=100) if r.status.value == "success"}
    assert set(costs) == {item.address for item in plan.items}
    for address, seconds in costs.items():
        run = runs[str(address)]
        assert run.ended_at is not None
        assert seconds == pytest.approx((run.ended_at - run.started_at).total_seconds())


def test_concurrent_transforms_share_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--jobs N`` runs N DuckDB transforms at once, each in its own child: together they get the machine's
    cores, not N times them; one transform at a time gets them all."""
    from meshplane.engines.duckdb import DuckDBEngine
    from meshplane.workspace import building, engine_choice

    made: list[DuckDBEngine] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        engine = engine_choice.make_engine(*args, **kwargs)
        assert isinstance(engine, DuckDBEngine)
        made.append(engine)
        return engine

    monkeypatch.setattr(building, "make_engine", make)
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    root = write_mesh(tmp_path / "mesh")
    with Mesh.open(root) as mesh:
        mesh.build(jobs=2, raise_on_failure=True)  # four products, two at a time
        mesh.build(["podcasts.shows"], full_refresh=True, jobs=2, raise_on_failure=True)  # one product
    assert [e._sandbox.limits.threads for e in made] == [4, 8]


def test_the_engine_starts_while_the_build_is_gated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engines a plan needs are made as the build begins, beside its gates and catalog sync, so their child
    processes are up when the first product builds."""
    from meshplane.workspace import building, compatibility, engine_choice

    made = threading.Event()
    makers: list[str] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        makers.append(threading.current_thread().name)
        made.set()
        return engine_choice.make_engine(*args, **kwargs)

    real_diffs = compatibility.published_diffs

    def diffs(*args: Any, **kwargs: Any) -> Any:  # the first of the build's gates
        assert made.wait(30), "no engine was being made when the gates began"
        return real_diffs(*args, **kwargs)

    monkeypatch.setattr(building, "make_engine", make)
    monkeypatch.setattr(compatibility, "published_diffs", diffs)
    root = write_mesh(tmp_path / "mesh")
    with Mesh.open(root) as mesh:
        mesh.build(jobs=2, raise_on_failure=True)
    assert makers == ["meshplane-build-engines"]
