"""QualityService: SLO evaluation with a fixed clock, old major versions, and the breaking-change gate."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from meshplane.contracts.slo import (
    ColumnCompleteness,
    PortHistory,
    RunSample,
    SloStatus,
    evaluate,
    parse_duration,
    parse_slos,
)
from meshplane.errors import ContractViolation
from meshplane.types import Address
from meshplane.workspace import Mesh
from meshplane.workspace.compatibility import (
    assert_no_unversioned_breaking_changes,
    breaking_change_gate,
    breaking_change_problems,
)


def _shop() -> ModuleType:
    path = Path(__file__).parents[1] / "contracts" / "test_cli_quality.py"
    spec = importlib.util.spec_from_file_location("shop_mesh_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shop = _shop()
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ORDERS = Address.parse("shop.orders.orders")


# --- pure evaluation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "unit", "seconds"), [
    (30, "m", 1800), (30, "min", 1800), (1, "h", 3600), (1.5, "hours", 5400), (1, "d", 86400), ("PT45M", None, 2700),
])  # fmt: skip
def test_durations_allow_sub_hour_values(value: object, unit: str | None, seconds: float) -> None:
    assert parse_duration(value, unit).total_seconds() == seconds


def test_unreadable_targets_are_unknown_not_errors() -> None:
    [slo] = parse_slos([{"property": "latency", "value": 1, "unit": "parsecs"}])
    assert evaluate(slo, PortHistory(NOW)).status is SloStatus.UNKNOWN
    assert parse_slos([{"property": "retention", "value": 1, "unit": "y"}]) == []


@pytest.mark.parametrize(("age_minutes", "expected"), [(10, "met"), (25, "at_risk"), (31, "breached")])
def test_latency(age_minutes: int, expected: str) -> None:
    [slo] = parse_slos([{"property": "latency", "value": 30, "unit": "m"}])
    result = evaluate(slo, PortHistory(NOW, (NOW - timedelta(minutes=age_minutes),)))
    assert result.status.value == expected
    assert result.evidence["age_seconds"] == age_minutes * 60


@pytest.mark.parametrize(("age_minutes", "expected"), [(50, "met"), (70, "at_risk"), (100, "breached")])
def test_frequency(age_minutes: int, expected: str) -> None:
    [slo] = parse_slos([{"property": "frequency", "value": 1, "unit": "h"}])
    history = PortHistory(NOW, (NOW - timedelta(hours=5), NOW - timedelta(minutes=age_minutes)))
    result = evaluate(slo, history)
    assert result.status.value == expected
    assert result.evidence["publishes"] == 2 and result.evidence["expected_every_seconds"] == 3600


@pytest.mark.parametrize(("missing", "expected"), [(0.001, "met"), (0.009, "at_risk"), (0.02, "breached")])
def test_completeness(missing: float, expected: str) -> None:
    [slo] = parse_slos([{"property": "completeness", "value": 99, "unit": "percent", "element": "orders.email"}])
    history = PortHistory(NOW, completeness=(ColumnCompleteness("email", missing), ColumnCompleteness("x", 0.5)))
    assert evaluate(slo, history).status.value == expected


@pytest.mark.parametrize(("outcomes", "expected"), [
    ([True] * 10, "met"), ([True] * 9 + [False], "at_risk"), ([True] * 8 + [False, False], "breached"),
])  # fmt: skip
def test_availability(outcomes: list[bool], expected: str) -> None:
    [slo] = parse_slos([{"property": "availability", "value": 90, "unit": "percent"}])
    runs = tuple(RunSample(NOW - timedelta(hours=10 - i), ok) for i, ok in enumerate(outcomes))
    result = evaluate(slo, PortHistory(NOW, runs=runs))
    assert result.status.value == expected
    assert result.evidence["runs"] == 10


# --- against a built mesh ----------------------------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path) -> Path:
    mesh = shop.make_shop_mesh(tmp_path)
    with Mesh.open(mesh) as opened:
        assert opened.build().ok
    return mesh


def test_status_met_at_risk_breached_with_a_fixed_clock(built: Path) -> None:
    with Mesh.open(built) as mesh:
        published = mesh.builds.current(ORDERS)
        assert published is not None
        mesh.test(["shop.orders"])  # completeness comes from check results: none on the lenient contract
        shop.write_orders(built, shop.STRICT)
    with Mesh.open(built) as mesh:
        mesh.test(["shop.orders"])
        verdicts = {}
        for minutes in (5, 26, 120):
            at = published.timestamp + timedelta(minutes=minutes)
            [status] = mesh.quality.status([ORDERS.product_address], now=at)
            verdicts[minutes] = {r.slo.name: r for r in status.results}
        stored = mesh.platform.catalog.reader.slo_evaluations(port=str(ORDERS))
    assert verdicts[5]["latency"].status is SloStatus.MET
    assert verdicts[26]["latency"].status is SloStatus.AT_RISK
    assert verdicts[120]["latency"].status is SloStatus.BREACHED
    assert verdicts[120]["frequency"].status is SloStatus.BREACHED
    assert verdicts[5]["availability"].status is SloStatus.MET  # the build succeeded; test runs do not count
    completeness = verdicts[5]["completeness"]
    assert completeness.status is SloStatus.BREACHED  # 1 null e-mail in 6 rows
    assert completeness.observed == pytest.approx(100 * 5 / 6, rel=1e-4)
    assert len(stored) == 12 and {e.status for e in stored} >= {"met", "at_risk", "breached"}
    latency = next(e for e in stored if e.slo == "latency")
    assert latency.evidence["last_publish"] == published.timestamp.isoformat(timespec="seconds")


def test_major_bump_builds_a_new_table_and_keeps_the_old_one(built: Path) -> None:
    with Mesh.open(built) as mesh:
        old_rows = mesh.read(str(ORDERS)).num_rows
    shop.write_orders(
        built, shop.LENIENT, version="2.0.0", custom="  - {property: deprecationDate, value: '2099-06-30'}\n"
    )
    assert breaking_change_problems(built) == []
    with Mesh.open(built) as mesh:
        result = mesh.build(["shop.orders"])
        assert result.ok, result.outcomes
        assert mesh.builds.current(ORDERS) is not None  # v2
        assert mesh.quality.read(ORDERS, 1).num_rows == old_rows  # v1 is still readable
        [status] = mesh.quality.status([ORDERS.product_address], now=NOW)
        [old] = status.old_majors
        assert (old.major, str(old.table), old.expired) == (1, "shop.orders__orders__v1", False)
        assert mesh.quality.retire_expired_majors(NOW) == []
        [retired] = mesh.quality.retire_expired_majors(datetime(2099, 7, 1, tzinfo=UTC))
        assert retired.major == 1
        assert mesh.quality.old_majors() == []
        assert mesh.quality.read(ORDERS, 2).num_rows == old_rows
        events = mesh.platform.catalog.reader.audit_log(action="major_retired")
        assert [e.subject for e in events] == [str(ORDERS)]


def test_a_build_lists_the_store_for_old_majors_only_once_a_deprecation_date_passed(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.write_orders(
        built, shop.LENIENT, version="2.0.0", custom="  - {property: deprecationDate, value: '2099-06-30'}\n"
    )
    with Mesh.open(built) as mesh:
        assert mesh.build(["shop.orders"]).ok
        listed: list[int] = []
        real = mesh.platform.tables.list_tables
        monkeypatch.setattr(mesh.platform.tables, "list_tables", lambda: listed.append(1) or real())
        assert mesh.quality.retire_expired_majors(NOW) == [] and listed == []  # nothing expired: no listing
        assert [m.major for m in mesh.quality.old_majors(NOW)] == [1] and listed == [1]
        assert [m.major for m in mesh.quality.retire_expired_majors(datetime(2099, 7, 1, tzinfo=UTC))] == [1]


def test_gate_functions_block_unversioned_breaking_changes(built: Path) -> None:
    shop.write_orders(built, shop.LENIENT.replace("classification: pii}", "classification: restricted}"))
    [problem] = breaking_change_problems(built)
    assert problem.location.path.name == "orders.odcs.yaml" and problem.location.line > 1
    assert problem.code == "breaking-change"
    with Mesh.open(built) as mesh:
        with pytest.raises(ContractViolation):
            assert_no_unversioned_breaking_changes(mesh.graph, mesh.platform, ORDERS.product_address)
        assert_no_unversioned_breaking_changes(mesh.graph, mesh.platform, Address.parse("shop.customers"))
        gate = breaking_change_gate(mesh.graph, mesh.platform)
        gate(mesh.graph.products[Address.parse("shop.customers")])
        with pytest.raises(ContractViolation):
            gate(mesh.graph.products[ORDERS.product_address])


def test_status_of_an_old_major_without_a_deprecation_date_says_what_to_set(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from meshplane.cli.app import main

    shop.write_orders(built, shop.LENIENT, version="2.0.0")  # no deprecationDate on the new major
    with Mesh.open(built) as mesh:
        assert mesh.build(["shop.orders"]).ok
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["status", "shop.orders", "--mesh", str(built)])
    text = capsys.readouterr().out
    assert "old major v1 (shop.orders__orders__v1): served until a deprecationDate is set" in text
    assert "no deprecationDate set" not in text
