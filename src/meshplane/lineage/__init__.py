"""Lineage: product-level lineage from ports across domains, column-level lineage of SQL transforms, impact.

Pure functions over the resolved :class:`~meshplane.graph.MeshGraph`; the workspace stores the column
edges in the catalog (``ColumnEdge`` has the catalog's ``ColumnLineageEdge`` fields).
"""

from meshplane.lineage.columns import (
    ColumnEdge,
    column_lineage,
    columns_downstream,
    columns_upstream,
    port_column_lineage,
)
from meshplane.lineage.impact import Impact, impact_of
from meshplane.lineage.products import Direction, LineageNode, LineageView, ProductEdge, lineage_of, product_edges

__all__ = [
    "ColumnEdge",
    "Direction",
    "Impact",
    "LineageNode",
    "LineageView",
    "ProductEdge",
    "column_lineage",
    "columns_downstream",
    "columns_upstream",
    "impact_of",
    "lineage_of",
    "port_column_lineage",
    "product_edges",
]
