"""Product-level lineage: which ports and sources feed which products, across domains."""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from meshplane.graph import MeshGraph
from meshplane.types import Address

__all__ = ["Direction", "LineageNode", "LineageView", "ProductEdge", "lineage_of", "product_edges"]


class Direction(StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class ProductEdge:
    """Data flows from ``upstream`` (a product address, or a source contract id) into ``downstream``.

    ``port`` is the upstream output port's address (the source id for sources); ``input`` the name the
    downstream transform reads it by.
    """

    upstream: str
    port: str
    downstream: str
    input: str
    source: bool = False

    @property
    def cross_domain(self) -> bool:
        return self.upstream.split(".", 1)[0] != self.downstream.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class LineageNode:
    address: str
    kind: str  # product | source
    domain: str
    depth: int  # negative: upstream of the focus, positive: downstream, 0: the focus


@dataclass(frozen=True, slots=True)
class LineageView:
    """The part of the product graph reachable from ``focus`` in ``direction``."""

    focus: str
    direction: Direction
    nodes: tuple[LineageNode, ...]
    edges: tuple[ProductEdge, ...]
    ports: dict[str, tuple[str, ...]] = field(default_factory=dict)  # product -> its output port addresses

    def addresses(self, *, kind: str | None = None) -> list[str]:
        return [n.address for n in self.nodes if n.depth != 0 and (kind is None or n.kind == kind)]


@dataclass(frozen=True)
class _Index:
    edges: tuple[ProductEdge, ...]
    by_downstream: Mapping[str, list[ProductEdge]]
    by_upstream: Mapping[str, list[ProductEdge]]
    sources: frozenset[str]


_INDEXES: dict[int, tuple[weakref.ref[MeshGraph], _Index]] = {}
_INDEX_LOCK = threading.Lock()


def _index(graph: MeshGraph) -> _Index:
    """The graph's edges indexed both ways, built once per graph (a graph never changes): a lineage or impact
    view then costs what it shows, not the size of the mesh."""
    with _INDEX_LOCK:
        found = _INDEXES.get(id(graph))
        if found is not None and found[0]() is graph:
            return found[1]
    edges = tuple(_edges(graph))
    by_downstream: dict[str, list[ProductEdge]] = {}
    by_upstream: dict[str, list[ProductEdge]] = {}
    for edge in edges:
        by_downstream.setdefault(edge.downstream, []).append(edge)
        by_upstream.setdefault(edge.upstream, []).append(edge)
    index = _Index(edges, by_downstream, by_upstream, frozenset(e.upstream for e in edges if e.source))
    with _INDEX_LOCK:
        for key in [k for k, (ref, _) in _INDEXES.items() if ref() is None]:
            del _INDEXES[key]
        _INDEXES[id(graph)] = (weakref.ref(graph), index)
    return index


def product_edges(graph: MeshGraph) -> list[ProductEdge]:
    """Every input binding of the mesh, ordered by downstream then upstream."""
    return list(_index(graph).edges)


def _edges(graph: MeshGraph) -> list[ProductEdge]:
    edges: list[ProductEdge] = []
    for consumer, bound in graph.edges.items():
        for edge in bound:
            if edge.upstream_port is not None:
                port = str(edge.upstream_port)
                edges.append(ProductEdge(str(edge.upstream_port.product_address), port, str(consumer), edge.input.name))
            elif edge.source is not None:
                edges.append(ProductEdge(edge.source.id, edge.source.id, str(consumer), edge.input.name, source=True))
    return sorted(edges, key=lambda e: (e.downstream, e.upstream, e.input))


def _walk(start: str, neighbours: Mapping[str, list[ProductEdge]], upstream: bool, depth_limit: int | None,
          ) -> tuple[dict[str, int], list[ProductEdge]]:  # fmt: skip
    seen: dict[str, int] = {start: 0}
    used: list[ProductEdge] = []
    queue = deque([start])
    while queue:
        current = queue.popleft()
        level = abs(seen[current])
        if depth_limit is not None and level >= depth_limit:
            continue
        for edge in neighbours.get(current, []):
            used.append(edge)
            other = edge.upstream if upstream else edge.downstream
            if other not in seen:
                seen[other] = -(level + 1) if upstream else level + 1
                queue.append(other)
    return seen, used


def _product(name: str) -> Address | None:
    try:
        return Address.parse(name)
    except ValueError:
        return None


def lineage_of(
    graph: MeshGraph,
    address: str | Address,
    direction: Direction = Direction.BOTH,
    *,
    depth: int | None = None,
    edges: Iterable[ProductEdge] | None = None,
) -> LineageView:
    """Upstream and/or downstream products (and sources) of a product or port, breadth first."""
    focus = str(Address.parse(str(address)).product_address) if not isinstance(address, Address) else str(
        address.product_address)  # fmt: skip
    if edges is None:
        index = _index(graph)
        by_downstream, by_upstream, sources = index.by_downstream, index.by_upstream, index.sources
    else:
        all_edges = list(edges)
        by_downstream, by_upstream = {}, {}
        for edge in all_edges:
            by_downstream.setdefault(edge.downstream, []).append(edge)
            by_upstream.setdefault(edge.upstream, []).append(edge)
        sources = frozenset(e.upstream for e in all_edges if e.source)
    depths: dict[str, int] = {focus: 0}
    used: list[ProductEdge] = []
    if direction in (Direction.UPSTREAM, Direction.BOTH):
        seen, found = _walk(focus, by_downstream, True, depth)
        depths.update(seen)
        used.extend(found)
    if direction in (Direction.DOWNSTREAM, Direction.BOTH):
        seen, found = _walk(focus, by_upstream, False, depth)
        depths.update({k: v for k, v in seen.items() if k not in depths or v > 0})
        used.extend(found)
    nodes = tuple(
        LineageNode(name, "source" if name in sources else "product", name.split(".", 1)[0], level)
        for name, level in sorted(depths.items(), key=lambda kv: (kv[1], kv[0]))
    )
    ports = {
        name: tuple(f"{name}.{o.name}" for o in graph.products[node].output_ports)
        for name in depths
        if (node := _product(name)) is not None and node in graph.products
    }
    return LineageView(focus, direction, nodes, tuple(dict.fromkeys(used)), ports)
