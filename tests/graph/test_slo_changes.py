"""SLO changes are classified by direction: a stricter frequency or latency is additive, a looser one breaking."""

from __future__ import annotations

import pytest
from open_data_contract_standard.model import ServiceLevelAgreementProperty

from meshplane.graph.diff import Change, ChangeKind, _slas


def _kind(prop: str, before: tuple[float, str], after: tuple[float, str]) -> Change:
    out: list[Change] = []
    _slas(
        [ServiceLevelAgreementProperty(property=prop, value=before[0], unit=before[1])],
        [ServiceLevelAgreementProperty(property=prop, value=after[0], unit=after[1])],
        out,
    )
    [change] = out
    return change


@pytest.mark.parametrize("prop", ["frequency", "latency"])
def test_a_stricter_time_slo_is_not_breaking(prop: str) -> None:
    change = _kind(prop, (1, "d"), (1, "min"))
    assert change.kind is ChangeKind.ADDITIVE and "strengthened" in change.message


@pytest.mark.parametrize("prop", ["frequency", "latency"])
def test_a_looser_time_slo_is_breaking(prop: str) -> None:
    change = _kind(prop, (1, "h"), (2, "d"))
    assert change.kind is ChangeKind.BREAKING and "weakened" in change.message


def test_the_same_target_spelt_differently_is_cosmetic() -> None:
    assert _kind("frequency", (1, "d"), (24, "h")).kind is ChangeKind.COSMETIC
