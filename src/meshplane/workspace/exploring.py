"""Exploration views over the discovery service: the glossary (terms, the columns that carry them, the products
that join on them) and the impact of changing one port (who and what breaks).

Both are read-only views built from the resolved graph, the lineage functions and the catalog's grants; who may
see grant holders is asked of the one access authority through :meth:`DiscoveryService.impact`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

from meshplane.errors import NotFound, UsageError
from meshplane.graph import MeshGraph
from meshplane.lineage import Impact, JoinKey, ProductEdge, join_keys, product_edges
from meshplane.spec.models import GlossaryTerm
from meshplane.types import Address, Principal
from meshplane.workspace.discovery import DiscoveryService

__all__ = ["PortImpact", "TermColumn", "TermView", "glossary_view", "port_impact"]


@dataclass(frozen=True, slots=True)
class TermColumn:
    port: str  # an output port address, or a source contract id
    column: str
    source: bool  # a source contract's column (raw data), not a product's


@dataclass(frozen=True, slots=True)
class TermView:
    term: GlossaryTerm
    columns: tuple[TermColumn, ...]
    joins: tuple[JoinKey, ...]  # joins in which at least one side's column carries the term

    @property
    def products(self) -> tuple[str, ...]:
        """Products joining on the term (their addresses, sorted)."""
        return tuple(sorted({str(Address.parse(j.port).product_address) for j in self.joins}))


@dataclass(frozen=True, slots=True)
class PortImpact:
    port: str
    column: str | None
    version: str
    team: str
    columns: tuple[str, ...]  # the port's own column names
    readers: tuple[ProductEdge, ...]  # products that read this port directly (their declared input ports)
    impact: Impact  # transitive: products, columns, grant holders the viewer may see, owner teams
    teams: dict[str, str]  # affected product -> its owner team


_JOINS: dict[int, tuple[MeshGraph, tuple[JoinKey, ...]]] = {}
_JOINS_LOCK = threading.Lock()


def _joins(graph: MeshGraph) -> tuple[JoinKey, ...]:
    """Join keys of an opened graph, computed once (the graph never changes under an opened mesh, and the sqlglot
    analysis costs milliseconds per transform). Keyed by identity; the graph is kept so the id stays its own."""
    found = _JOINS.get(id(graph))
    if found is not None and found[0] is graph:
        return found[1]
    keys = tuple(join_keys(graph))
    with _JOINS_LOCK:
        if len(_JOINS) >= 8:
            _JOINS.clear()
        _JOINS[id(graph)] = (graph, keys)
    return keys


def glossary_view(service: DiscoveryService, term: str | None = None) -> list[TermView]:
    """Every glossary term (or one), with the product and source columns referencing it and the joins on them."""
    graph = service.graph
    terms = [t for t in graph.spec.glossary.terms if term is None or t.name == term]
    if term is not None and not terms:
        raise NotFound(f"no glossary term {term}; the glossary page lists them")
    typed: dict[tuple[str, str], str] = {}  # (port or source, column) -> term
    uses: dict[str, list[TermColumn]] = defaultdict(list)
    for address, port in graph.ports.items():
        for column in port.contract.columns:
            if column.semantic_type:
                typed[(str(address), column.name)] = column.semantic_type
                uses[column.semantic_type].append(TermColumn(str(address), column.name, source=False))
    for source_id, contract in graph.sources.items():
        for column in contract.columns:
            if column.semantic_type:
                typed[(source_id, column.name)] = column.semantic_type
                uses[column.semantic_type].append(TermColumn(source_id, column.name, source=True))
    joins: dict[str, set[JoinKey]] = defaultdict(set)
    for key in _joins(graph):
        for side in ((key.left_port, key.left_column), (key.right_port, key.right_column)):
            if side in typed:
                joins[typed[side]].add(key)
    return [TermView(t, tuple(sorted(uses[t.name], key=lambda u: (u.source, u.port, u.column))),
                     tuple(sorted(joins[t.name]))) for t in terms]  # fmt: skip


def port_impact(service: DiscoveryService, viewer: Principal, port: str, column: str | None = None) -> PortImpact:
    """Who and what a change of ``port`` (or one of its columns) touches, as ``viewer`` may see it: the products
    reading it and everything downstream of them (lineage), downstream columns (column lineage), holders of
    grants on affected ports (shown only where the authority lets ``viewer`` see them), and owner teams."""
    try:
        parsed = Address.parse(port)
    except ValueError as error:
        raise UsageError(str(error)) from None
    spec = service.graph.ports.get(parsed)
    if spec is None or parsed.port is None:
        raise NotFound(f"no port {port}; `meshplane ls ports` lists them")
    names = tuple(c.name for c in spec.contract.columns)
    if column is not None and column not in names:
        raise NotFound(f"port {port} has no column {column}; it has: {', '.join(names)}")
    impact = service.impact(port if column is None else f"{port}.{column}", viewer)
    graph = service.graph
    readers = tuple(e for e in product_edges(graph) if e.port == port)
    teams = {p: graph.products[Address.parse(p)].team for p in impact.products}
    return PortImpact(port, column, spec.version, graph.owner_of(parsed), names, readers, impact, teams)
