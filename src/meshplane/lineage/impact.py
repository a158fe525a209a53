"""Impact of a change: the downstream products, columns and granted consumers of a product, port or column."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meshplane.graph import MeshGraph
from meshplane.lineage.columns import ColumnEdge, column_lineage, columns_downstream
from meshplane.lineage.products import Direction, lineage_of
from meshplane.types import Address

__all__ = ["Impact", "impact_of"]


@dataclass(frozen=True, slots=True)
class Impact:
    subject: str
    products: tuple[str, ...]  # downstream products, nearest first
    columns: tuple[str, ...]  # downstream port.column addresses
    consumers: tuple[str, ...]  # users (or teams) holding an active grant on an affected port
    owner_teams: tuple[str, ...]  # teams owning the affected products


def impact_of(
    graph: MeshGraph,
    subject: str,
    *,
    grants: Iterable[tuple[str, str]] = (),
    edges: Iterable[ColumnEdge] | None = None,
) -> Impact:
    """What changing ``subject`` (product, port, or ``port.column``) touches downstream.

    ``grants`` are ``(port address, grantee)`` pairs of active grants, from the catalog.
    """
    parts = subject.split(".")
    column = parts[3] if len(parts) == 4 else None
    address = Address.parse(".".join(parts[:3]))
    view = lineage_of(graph, address, Direction.DOWNSTREAM)
    products = tuple(view.addresses(kind="product"))
    column_edges = list(edges) if edges is not None else column_lineage(graph)
    if address.port is not None:
        start_ports = [str(address)]
    else:
        start_ports = [f"{address}.{p.name}" for p in graph.products[address].output_ports]
    columns: set[str] = set()
    for port in start_ports:
        for edge in columns_downstream(column_edges, port, column):
            columns.add(f"{edge.downstream_port}.{edge.downstream_column}")
    affected_ports = set(start_ports)
    for product in products:
        affected_ports.update(f"{product}.{p.name}" for p in graph.products[Address.parse(product)].output_ports)
    consumers = sorted({grantee for port, grantee in grants if port in affected_ports})
    teams = sorted({graph.products[Address.parse(p)].team for p in products})
    return Impact(str(subject), products, tuple(sorted(columns)), tuple(consumers), tuple(teams))
