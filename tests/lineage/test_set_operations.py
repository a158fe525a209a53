"""Column lineage through every set operation: positional ones pair columns by position, BY NAME by name."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from meshplane.lineage.columns import _port_column_lineage

SCHEMA = {
    "trials": {"id": "BIGINT", "site": "VARCHAR"},
    "legacy": {"site": "VARCHAR", "id": "BIGINT", "phase": "VARCHAR"},
    "extra": {"phase": "VARCHAR", "id": "BIGINT"},
}
INPUTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "trials": ("pharma.trials.trials", ()),
    "legacy": ("pharma.legacy.legacy", ()),
    "extra": ("pharma.extra.extra", ()),
}


def _edges(sql: str) -> set[tuple[str, str, str]]:
    port: Any = SimpleNamespace(transform=SimpleNamespace(code=sql))
    return {
        (e.upstream_port.split(".")[-1], e.upstream_column, e.downstream_column)
        for e in _port_column_lineage(port, INPUTS, SCHEMA, "pharma.all.all")
    }


@pytest.mark.parametrize("operation", ["UNION ALL BY NAME", "UNION BY NAME"])
def test_by_name_pairs_columns_by_name(operation: str) -> None:
    edges = _edges(f"SELECT id, site FROM trials {operation} SELECT site, id FROM legacy")
    assert edges == {
        ("trials", "id", "id"), ("legacy", "id", "id"), ("trials", "site", "site"), ("legacy", "site", "site"),
    }  # fmt: skip


def test_by_name_keeps_a_column_only_one_side_has() -> None:
    edges = _edges("SELECT id, site FROM trials UNION ALL BY NAME SELECT phase, id FROM legacy")
    assert ("legacy", "phase", "phase") in edges
    assert ("legacy", "phase", "site") not in edges and ("legacy", "id", "site") not in edges


def test_nested_by_name_operations() -> None:
    edges = _edges(
        "SELECT id, site FROM trials UNION ALL BY NAME SELECT site, id FROM legacy "
        "UNION ALL BY NAME SELECT phase, id FROM extra"
    )
    assert {e for e in edges if e[2] == "id"} == {("trials", "id", "id"), ("legacy", "id", "id"), ("extra", "id", "id")}
    assert {e for e in edges if e[2] == "phase"} == {("extra", "phase", "phase")}
    assert {e for e in edges if e[2] == "site"} == {("trials", "site", "site"), ("legacy", "site", "site")}


@pytest.mark.parametrize("operation", ["UNION ALL", "UNION", "INTERSECT", "EXCEPT"])
def test_positional_operations_pair_columns_by_position(operation: str) -> None:
    edges = _edges(f"SELECT id, site FROM trials {operation} SELECT site, id FROM legacy")
    # Position decides: the output's id column takes legacy.site, whatever its name.
    assert edges == {
        ("trials", "id", "id"), ("legacy", "site", "id"), ("trials", "site", "site"), ("legacy", "id", "site"),
    }  # fmt: skip
