"""Resolve a MeshSpec into a frozen MeshGraph: input ports bound to upstream ports or sources."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from meshplane.graph.versions import RangeError, matches
from meshplane.spec.models import ContractSpec, InputPortSpec, MeshSpec, OutputPortSpec, ProductSpec
from meshplane.types import Address, Problem, SourceLocation

__all__ = ["Edge", "MeshGraph", "resolve"]


@dataclass(frozen=True)
class Edge:
    """One input port of ``consumer`` bound to an upstream output port or a source contract."""

    consumer: Address
    input: InputPortSpec
    upstream_port: Address | None  # <domain>.<product>.<port> when reading another product
    source: ContractSpec | None  # the source contract when reading raw data

    @property
    def upstream_product(self) -> Address | None:
        return self.upstream_port.product_address if self.upstream_port else None


@dataclass(frozen=True)
class MeshGraph:
    """Products, ports and the edges between them; ``order`` is a valid build order."""

    spec: MeshSpec
    products: Mapping[Address, ProductSpec]
    ports: Mapping[Address, OutputPortSpec]
    sources: Mapping[str, ContractSpec]
    edges: Mapping[Address, tuple[Edge, ...]]
    order: tuple[Address, ...]
    downstream: Mapping[Address, frozenset[Address]] = field(repr=False)

    def product(self, address: Address) -> ProductSpec:
        return self.products[address.product_address]

    def upstream_products(self, address: Address) -> frozenset[Address]:
        return frozenset(e.upstream_product for e in self.edges.get(address, ()) if e.upstream_product)

    def owner_of(self, port: Address) -> str:
        return self.products[port.product_address].team

    def consumers_of_port(self, port: Address) -> tuple[Edge, ...]:
        return tuple(edge for edges in self.edges.values() for edge in edges if edge.upstream_port == port)

    def closure(self, start: Iterable[Address], *, upstream: bool) -> set[Address]:
        seen: set[Address] = set()
        stack = list(start)
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            nexts = self.upstream_products(current) if upstream else self.downstream.get(current, frozenset())
            stack.extend(nexts)
        return seen


def _missing_hint(
    contract_id: str, ports: Mapping[Address, OutputPortSpec], sources: Mapping[str, ContractSpec]
) -> str:
    known = sorted([str(a) for a in ports] + list(sources))
    close = difflib.get_close_matches(contract_id, known, n=1, cutoff=0.75)
    if close:
        return f"did you mean {close[0]}?"
    parts = contract_id.split(".")
    if len(parts) == 3 and parts[1] == "sources":
        return f"add the source contract domains/{parts[0]}/sources/{parts[2]}.odcs.yaml"
    siblings = sorted(k for k in known if k.startswith(".".join(parts[:2]) + "."))
    if siblings:
        return "that product's ports: " + ", ".join(siblings)
    in_domain = sorted({str(a.product_address) for a in ports if a.domain == parts[0]})
    if in_domain:
        return f"products of {parts[0]}: " + ", ".join(in_domain)
    return "check the address; `meshplane ls ports` lists the ports"


def _resolve_edge(
    product: ProductSpec,
    port: InputPortSpec,
    ports: Mapping[Address, OutputPortSpec],
    sources: Mapping[str, ContractSpec],
    unloaded: frozenset[str],
    problems: list[Problem],
) -> Edge | None:
    # Located only when a problem needs it: a cached spec file parses its positions on first use.
    def where() -> SourceLocation:
        return port.location("contractId")

    if port.contract_id in sources:
        source = sources[port.contract_id]
        if not _version_ok(port, source.version, where, problems):
            return None
        return Edge(product.address, port, None, source)
    try:
        address = Address.parse(port.contract_id)
    except ValueError:
        address = None
    if address is None or address.port is None:
        problems.append(
            Problem(
                where(),
                f"input port {port.name!r} names {port.contract_id!r}, which is not a port address",
                "write <domain>.<product>.<port>, or <domain>.sources.<name> for a source",
                code="input-unresolved",
            )
        )
        return None
    if address.product_address == product.address:
        problems.append(
            Problem(
                where(),
                f"input port {port.name!r} reads {port.contract_id}, an output of its own product",
                "a product cannot consume itself: read an upstream product's port or a source",
                code="cycle",
            )
        )
        return None
    upstream = ports.get(address)
    if upstream is None:
        if port.contract_id in unloaded or str(address.product_address) in unloaded:
            return None  # the upstream file is broken and already reported; do not echo it here
        kind = "source" if address.product == "sources" else "port"
        problems.append(
            Problem(
                where(),
                f"input port {port.name!r} reads {kind} {port.contract_id}, which does not exist",
                _missing_hint(port.contract_id, ports, sources),
                code="input-unresolved",
            )
        )
        return None
    if not _version_ok(port, upstream.version, where, problems):
        return None
    return Edge(product.address, port, address, None)


def _version_ok(port: InputPortSpec, actual: str, where: object, problems: list[Problem]) -> bool:
    try:
        ok = matches(actual, port.version_range)
    except (RangeError, ValueError) as error:
        whole = str(port.version_range).strip()
        detail = "" if isinstance(error, RangeError) and error.token == whole else f" ({error})"
        problems.append(
            Problem(
                port.location("version"),
                f"input port {port.name!r}: version range {whole!r} is not a semver range{detail}",
                "write a semver range such as ^1.0.0, ~1.2.0, 1.x or >=1.2.0 <2.0.0",
                code="version-range",
            )
        )
        return False
    if not ok:
        problems.append(
            Problem(
                port.location("version"),
                f"input port {port.name!r} wants {port.contract_id} {port.version_range}, but it is at {actual}",
                f"write a range that admits {actual}, e.g. version: ^{actual}",
                code="version-mismatch",
            )
        )
    return ok


def resolve(spec: MeshSpec) -> tuple[MeshGraph | None, list[Problem]]:
    """Bind every input port; report missing references, version mismatches and cycles."""
    problems: list[Problem] = []
    products = {p.address: p for p in spec.products}
    ports = {Address(p.domain, p.name, port.name): port for p in spec.products for port in p.output_ports}
    sources = {s.id: s for s in spec.sources}
    edges: dict[Address, tuple[Edge, ...]] = {}
    for product in spec.products:
        resolved = [
            edge
            for port in product.input_ports
            if (edge := _resolve_edge(product, port, ports, sources, spec.unloaded, problems))
        ]
        edges[product.address] = tuple(resolved)
    sorter: TopologicalSorter[Address] = TopologicalSorter()
    downstream: dict[Address, set[Address]] = {a: set() for a in products}
    for address, product_edges in edges.items():
        ups = {e.upstream_product for e in product_edges if e.upstream_product}
        sorter.add(address, *ups)
        for up in ups:
            downstream[up].add(address)
    try:
        order = tuple(sorter.static_order())
    except CycleError as error:
        # graphlib lists each product before the one that reads it; reversed, each product reads the next.
        ring: list[Address] = list(reversed(error.args[1]))[:-1]
        start = ring.index(min(ring))
        ring = ring[start:] + ring[:start]
        path = " -> ".join(str(a) for a in [*ring, ring[0]])
        edge = next((e for e in edges[ring[0]] if e.upstream_product == ring[1 % len(ring)]), None)
        location = edge.input.location("contractId") if edge else products[ring[0]].location()
        problems.append(
            Problem(
                location,
                f"products form a cycle (each reads the next): {path}",
                "remove or redirect one of the input ports in the cycle",
                code="cycle",
            )
        )
        return None, problems
    graph = MeshGraph(
        spec=spec,
        products=products,
        ports=ports,
        sources=sources,
        edges=edges,
        order=order,
        downstream={a: frozenset(d) for a, d in downstream.items()},
    )
    return graph, problems
