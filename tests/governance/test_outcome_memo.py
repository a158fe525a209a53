"""The memo of rule outcomes: unchanged inputs reuse an earlier outcome without a worker; any change to what a
rule reads is evaluated again, so a memoised evaluation always equals a fresh one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.governance import GovernanceReport, evaluate, load_policies, sandbox
from meshplane.governance.sandbox import Group, OutcomeMemo, Task, TaskOutcome, compile_rule, run_tasks
from meshplane.graph import MeshGraph
from meshplane.types import Address
from meshplane.workspace import Mesh
from meshplane.workspace.governing import GovernanceService

from .conftest import NOW, graph_of, write_mesh

BEFORE_CUTOVER = """\
policies:
  - id: before-cutover
    title: Nothing is published after the cut-over
    severity: error
    subject: product
    points: [build]
    rule: timestamp(now) < timestamp("2026-07-01T00:00:00Z")
    message: "{{subject.address}} is built after the cut-over"
"""

PRODUCT = "domains/sales/orders/product.odps.yaml"


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many tasks each worker run evaluated (a memo hit runs none)."""
    counts: list[int] = []
    real = sandbox._run_tasks

    def counting(tasks: Sequence[Task], *args: Any) -> tuple[list[TaskOutcome], set[int]]:
        counts.append(len(tasks))
        return real(tasks, *args)

    monkeypatch.setattr(sandbox, "_run_tasks", counting)
    return counts


def _seen(report: GovernanceReport) -> list[tuple[str, str, str, bool]]:
    return [(v.policy, v.address, v.message, v.waiver is not None) for v in (*report.violations, *report.waived)]


def _published(graph: MeshGraph, *, version: str) -> dict[str, OpenDataContractStandard]:
    """sales.orders.orders as published before with one more column (removed now: breaking unless a major)."""
    port = graph.ports[next(a for a in graph.ports if str(a) == "sales.orders.orders")]
    raw = dict(port.contract.raw)
    props = [*raw["schema"][0]["properties"], {"name": "discount", "logicalType": "number", "description": "Gone."}]
    contract = {**raw, "version": version, "schema": [{**raw["schema"][0], "properties": props}]}
    return {"sales.orders.orders": OpenDataContractStandard.model_validate(contract)}


Inputs = dict[str, Any]
Change = Callable[[Path, Inputs], Inputs]


def _spec(root: Path, inputs: Inputs) -> Inputs:
    (root / PRODUCT).write_text((root / PRODUCT).read_text().replace("version: 2.1.0", "version: 2.1", 1))
    return {**inputs, "graph": graph_of(root)}


def _contract(root: Path, inputs: Inputs) -> Inputs:
    return {**inputs, "published": _published(inputs["graph"], version="0.9.0")}


def _waiver(root: Path, inputs: Inputs) -> Inputs:
    waiver = {"policy": "no-breaking-without-major", "subject": "sales.orders.orders", "reason": "migrating",
              "approver": "gina", "expires": "2027-01-01"}  # fmt: skip
    return {**inputs, "waivers": [waiver]}


def _upstream(root: Path, inputs: Inputs) -> Inputs:
    return {**inputs, "upstream": {"sales.orders.orders.customer_id": ("pii", ("crm.customers.customers.email",))}}


def _clock(root: Path, inputs: Inputs) -> Inputs:
    return {**inputs, "now": dt.date(2026, 7, 2)}


def _policy(root: Path, inputs: Inputs) -> Inputs:
    policy = root / "policies/cutover.yaml"
    policy.write_text(policy.read_text().replace("2026-07-01", "2026-05-01"))
    return {**inputs, "policies": load_policies(root)}


@pytest.mark.parametrize(
    "change",
    [_spec, _contract, _waiver, _upstream, _clock, _policy],
    ids=["spec", "published contract", "waiver", "column lineage", "now", "policy rule"],
)
def test_a_changed_input_is_evaluated_again(change: Change, tmp_path: Path, ran: list[int]) -> None:
    root = write_mesh(tmp_path / "shop", {"policies/cutover.yaml": BEFORE_CUTOVER}, agree=False)
    graph = graph_of(root)
    inputs: Inputs = {"graph": graph, "now": NOW, "published": _published(graph, version="1.0.0"),
                      "waivers": [], "upstream": {}, "policies": load_policies(root)}  # fmt: skip
    memo = OutcomeMemo()

    def run(given: Inputs, memo: OutcomeMemo | None) -> GovernanceReport:
        return evaluate(given["graph"], "build", now=given["now"], published=given["published"],
                        waivers=given["waivers"], upstream=given["upstream"], policies=given["policies"],
                        memo=memo)  # fmt: skip

    before = run(inputs, memo)
    runs = len(ran)
    assert _seen(run(inputs, memo)) == _seen(before) and len(ran) == runs  # nothing changed: no worker
    changed = change(root, inputs)
    after = run(changed, memo)
    assert _seen(after) != _seen(before)  # the change matters to some rule ...
    assert _seen(after) == _seen(run(changed, None))  # ... and the memo gives what a fresh evaluation does


def test_a_rule_that_does_not_read_now_keeps_its_outcome_when_time_passes(ran: list[int]) -> None:
    rule = compile_rule("subject.name != 'bad'")
    assert not isinstance(rule, str)
    docs = [{"name": "good"}, {"name": "bad"}]
    memo = OutcomeMemo()
    for day in ("2026-06-01", "2026-06-02"):
        outcomes = run_tasks([Task(rule, "p")], {"p": Group(docs, {"now": day})}, memo=memo)
        assert outcomes[0].failures == {1: ""}
    assert ran == [1]
    docs[0] = {"name": "bad"}  # a changed document (even in place) is a different input
    assert run_tasks([Task(rule, "p")], {"p": Group(docs, {"now": "2026-06-02"})}, memo=memo)[0].failures == {
        0: "",
        1: "",
    }
    assert ran == [1, 1]


def _slow_rule() -> str:
    numbers = "[" + ",".join(str(i) for i in range(200)) + "]"
    return f"{numbers}.all(a, {numbers}.all(b, {numbers}.all(c, a + b + c >= 0)))"


def test_a_rule_that_timed_out_is_not_memoised(ran: list[int]) -> None:
    slow = compile_rule(_slow_rule())
    assert not isinstance(slow, str)
    memo = OutcomeMemo()
    for _ in range(2):
        outcomes = run_tasks([Task(slow, "p")], {"p": Group([{"name": "x"}], {})}, timeout=0.2, memo=memo)
        assert outcomes[0].failures == {0: "the rule took longer than 0.2 s"}
    assert ran == [1, 1] and len(memo) == 0


def test_too_many_documents_are_not_memoised(ran: list[int]) -> None:
    rule = compile_rule("subject.name != 'bad'")
    assert not isinstance(rule, str)
    memo = OutcomeMemo(documents=2)
    for _ in range(2):
        run_tasks([Task(rule, "p")], {"p": Group([{"name": "a"}] * 3, {})}, memo=memo, isolation="inline")
    assert ran == [1, 1] and len(memo) == 0


def test_the_build_gate_of_an_unchanged_mesh_forks_no_worker_and_still_records(tmp_path: Path, ran: list[int]) -> None:
    root = write_mesh(tmp_path / "shop")
    with Mesh.open(root) as mesh:
        service = GovernanceService(mesh.graph, mesh.platform)
        for _ in range(2):
            service.build_gate()(mesh.graph.products[next(iter(mesh.graph.products))])
        assert ran[0] > 0 and ran[1:] == []  # the second gate found every outcome in the memo
        trend = service.trend()
        assert len(trend) == 2 and trend[0]["evaluation"] != trend[1]["evaluation"]  # both evaluations recorded


def test_an_evaluation_of_some_products_reads_only_their_published_contracts(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "shop")
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        service = GovernanceService(mesh.graph, mesh.platform)
        assert sorted(service.published()) == ["crm.customers.customers", "sales.orders.orders"]
        assert sorted(service.published([Address("sales", "orders")])) == ["sales.orders.orders"]
