"""``meshplane check``'s view of the governed edges: a located problem on each input port its build may not read,
and on each foreign key whose target port (another product's, named by its address) the product may not read.

:func:`edge_problem` is the one wording of such a problem: check with or without a catalog, and the build's
refusal (:mod:`meshplane.workspace.agreeing`, :mod:`meshplane.workspace.edges`).
:func:`agreement_problems_without_catalog` answers for a mesh that has no catalog yet (a fresh clone, never
built): no agreement can have been approved, so the access-level rule (:func:`meshplane.access.levels.read_refusal`)
is asked with no grant, from the specs alone. It creates no catalog and loads neither the catalog's database
libraries nor the SQL parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from meshplane.access.levels import agreement_command, read_refusal
from meshplane.graph import Edge, MeshGraph
from meshplane.spec import ProductSpec
from meshplane.types import Address, Problem, SourceLocation

if TYPE_CHECKING:
    from open_data_contract_standard.model import OpenDataContractStandard

__all__ = [
    "agreement_problems_without_catalog",
    "edge_problem",
    "foreign_key_fix",
    "foreign_key_problem",
    "foreign_key_reads",
    "relationship_targets",
]


def edge_problem(edge: Edge, refusal: str, *, lapsed: str | None = None, agreement: bool = False) -> Problem:
    """The located error on ``edge``'s input port for a read the access decision refused with ``refusal``;
    ``lapsed`` replaces the message (an agreement revoked or expired); ``agreement``: an agreement would
    allow the read, so the fix is the command that requests it."""
    assert edge.upstream_port is not None
    port = str(edge.upstream_port)
    message = (
        lapsed or f"input port {edge.input.name!r} may not read {port}: " + refusal.split("; request one with:")[0]
    )
    hint = agreement_command(str(edge.consumer), port, edge.input.purpose, edge.input.columns) if agreement else ""
    return Problem(edge.input.location(), message, hint, code="agreement")


def agreement_problems_without_catalog(graph: MeshGraph) -> list[Problem]:
    """A located error on every input port that reads a port of another domain which needs an agreement
    (``restricted``) or that no agreement opens (``private``), for a mesh that has no catalog yet.

    The facts are the specs' own (with no catalog, nothing was published that a spec change could loosen)."""
    domain_owners = {domain.name: domain.config.owner for domain in graph.spec.domains}
    problems: list[Problem] = []
    for product in graph.products.values():
        for edge in graph.edges[product.address]:
            upstream = graph.products.get(edge.upstream_port.product_address) if edge.upstream_port else None
            port = upstream.output(edge.upstream_port.port or "") if upstream and edge.upstream_port else None
            if upstream is None or port is None:
                continue  # a source, or a port check already reports as unresolved
            owner_teams = tuple(t for t in dict.fromkeys((upstream.team, domain_owners.get(upstream.domain))) if t)
            refusal = read_refusal(
                address=str(edge.upstream_port),
                level=port.access_level.value,
                reader=f"product:{product.address}",
                product=str(product.address),
                owner=product.team in owner_teams,
                owner_teams=owner_teams,
                granted=False,  # no catalog: no agreement was ever approved
            )
            if refusal is not None:
                problems.append(edge_problem(edge, refusal, agreement="agreement" in refusal))
        for address, where in foreign_key_reads(graph, product):
            upstream = graph.products[address.product_address]
            port = graph.ports[address]
            owner_teams = tuple(t for t in dict.fromkeys((upstream.team, domain_owners.get(upstream.domain))) if t)
            refusal = read_refusal(
                address=str(address),
                level=port.access_level.value,
                reader=f"product:{product.address}",
                product=str(product.address),
                owner=product.team in owner_teams,
                owner_teams=owner_teams,
                granted=False,
            )
            if refusal is not None:
                problems.append(foreign_key_problem(product, address, where, refusal, agreement="agreement" in refusal))
    return problems


def relationship_targets(contract: OpenDataContractStandard, table_index: int = 0) -> dict[str, tuple[str | int, ...]]:
    """Table parts of the foreign keys of the port's table (``customers`` of ``customers.id``), each with the key
    path (below its schema object) of the first relationship naming it."""
    objects = contract.schema_ or []
    if len(objects) <= table_index:
        return {}
    rels: list[tuple[tuple[str | int, ...], Any]] = [
        (("properties", i, "relationships", j), r)
        for i, p in enumerate(objects[table_index].properties or [])
        for j, r in enumerate(p.relationships or [])
    ]
    rels += [(("relationships", j), r) for j, r in enumerate(objects[table_index].relationships or [])]
    targets: dict[str, tuple[str | int, ...]] = {}
    for path, rel in rels:
        for ref in [rel.to] if isinstance(rel.to, str) else list(rel.to or []):
            if "/" not in ref and "." in ref:
                targets.setdefault(ref.rpartition(".")[0], path)
    return targets


def foreign_key_reads(graph: MeshGraph, product: ProductSpec) -> list[tuple[Address, SourceLocation]]:
    """Other products' ports that the foreign keys of ``product``'s contracts read by their address, with the
    relationship that names each (its first). A port one of its input ports reads is left out: the input port's
    own problem, if any, already says what is missing."""
    declared = {edge.upstream_port for edge in graph.edges.get(product.address, ()) if edge.upstream_port}
    found: dict[Address, SourceLocation] = {}
    for port in product.output_ports:
        contract = port.contract
        for target, path in relationship_targets(contract.odcs, contract.table_index).items():
            try:
                named = Address.parse(target)
            except ValueError:
                continue  # a sibling port or an input port's name: read without another agreement
            if named.port is None or named not in graph.ports or named.product_address == product.address:
                continue
            if named not in declared and named not in found:
                found[named] = contract.location("schema", contract.table_index, *path)
    return list(found.items())


def foreign_key_problem(product: ProductSpec, address: Address, where: SourceLocation, refusal: str, *,
                        agreement: bool, why: str | None = None) -> Problem:  # fmt: skip
    """The located error on a foreign key whose target port ``product`` may not read; ``why`` replaces the
    refusal's reason (an agreement revoked or expired); ``agreement``: an agreement would allow the read."""
    reason = why or refusal.split("; request one with:")[0]
    message = f"the foreign key reads {address}, which {product.address} may not read: {reason}"
    return Problem(where, message, foreign_key_fix(product, address) if agreement else "", code="agreement")


def foreign_key_fix(product: ProductSpec, address: Address, edge: Edge | None = None) -> str:
    """What gives ``product`` the read of ``address`` that its foreign key needs: an agreement, which is made
    for an input port (declared first when ``edge``, the input port reading it, is None)."""
    declare = "" if edge is not None else (
        f"declare an input port reading {address} under inputPorts: in {product.path.name}, then "
    )  # fmt: skip
    purpose, columns = (edge.input.purpose, edge.input.columns) if edge is not None else (None, ())
    return declare + agreement_command(str(product.address), str(address), purpose, columns)
