"""Lineage: product-level lineage from ports across domains, column-level lineage of SQL transforms, impact,
and OpenLineage events (``meshplane.lineage.openlineage``).

Pure functions over the resolved :class:`~meshplane.graph.MeshGraph`; the workspace stores the column
edges in the catalog (``ColumnEdge`` has the catalog's ``ColumnLineageEdge`` fields).

Names load on first use: column lineage brings in sqlglot's optimizer (about 0.4 s), which a build that only
checks whether OpenLineage is configured, or redacts an error, must not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshplane.lineage.columns import (
        ColumnEdge,
        column_lineage,
        columns_downstream,
        columns_upstream,
        port_column_lineage,
    )
    from meshplane.lineage.impact import Impact, impact_of
    from meshplane.lineage.joins import JoinKey, join_keys
    from meshplane.lineage.products import (
        Direction,
        LineageNode,
        LineageView,
        ProductEdge,
        lineage_of,
        product_edges,
    )

__all__ = [
    "ColumnEdge",
    "Direction",
    "Impact",
    "JoinKey",
    "LineageNode",
    "LineageView",
    "ProductEdge",
    "column_lineage",
    "columns_downstream",
    "columns_upstream",
    "impact_of",
    "join_keys",
    "lineage_of",
    "port_column_lineage",
    "product_edges",
]

_HOMES = {
    **dict.fromkeys(
        ("ColumnEdge", "column_lineage", "columns_downstream", "columns_upstream", "port_column_lineage"), "columns"
    ),
    **dict.fromkeys(("Impact", "impact_of"), "impact"),
    **dict.fromkeys(("JoinKey", "join_keys"), "joins"),
    **dict.fromkeys(("Direction", "LineageNode", "LineageView", "ProductEdge", "lineage_of", "product_edges"),
                    "products"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'meshplane.lineage' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"meshplane.lineage.{home}"), name)
    globals()[name] = value
    return value
