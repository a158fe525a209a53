"""Resolve a MeshSpec into a frozen MeshGraph: input ports bound to upstream ports or sources."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter

from meshplane.graph.versions import RangeError, matches
from meshplane.spec.models import ContractSpec, InputPortSpec, MeshSpec, OutputPortSpec, ProductSpec
from meshplane.types import Address, Problem

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


def _resolve_edge(
    product: ProductSpec,
    port: InputPortSpec,
    ports: Mapping[Address, OutputPortSpec],
    sources: Mapping[str, ContractSpec],
    problems: list[Problem],
) -> Edge | None:
    where = port.location("contractId")
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
                where,
                f"input port {port.name!r} names {port.contract_id!r}, which is not a port address",
                "write <domain>.<product>.<port>, or <domain>.sources.<name> for a source",
                code="input-unresolved",
            )
        )
        return None
    upstream = ports.get(address)
    if upstream is None:
        known = sorted(str(a) for a in ports if a.product_address == address.product_address)
        hint = (
            ("ports of that product: " + ", ".join(known))
            if known
            else "check the address; `meshplane ls ports` lists them"
        )
        problems.append(
            Problem(
                where,
                f"input port {port.name!r} reads {port.contract_id}, which does not exist",
                hint,
                code="input-unresolved",
            )
        )
        return None
    if address.product_address == product.address:
        problems.append(
            Problem(
                where,
                f"input port {port.name!r} reads its own product",
                "a product cannot consume itself",
                code="cycle",
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
        problems.append(
            Problem(
                port.location("version"),
                f"input port {port.name!r}: {error}",
                "write a range such as ^1.0.0 or >=1.2.0 <2.0.0",
                code="version-range",
            )
        )
        return False
    if not ok:
        problems.append(
            Problem(
                port.location("version"),
                f"input port {port.name!r} wants {port.contract_id} {port.version_range}, but it is at {actual}",
                f"widen the range to admit {actual}, or pin the upstream major version",
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
        resolved = [e for port in product.input_ports if (e := _resolve_edge(product, port, ports, sources, problems))]
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
        cycle: list[Address] = list(error.args[1])
        first = products[cycle[0]]
        path = " -> ".join(str(a) for a in reversed(cycle))
        edge = next((e for e in edges[cycle[0]] if e.upstream_product == cycle[1]), None)
        location = edge.input.location("contractId") if edge else first.location()
        problems.append(
            Problem(
                location, f"products form a cycle: {path}", "remove one of the input ports in the cycle", code="cycle"
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
