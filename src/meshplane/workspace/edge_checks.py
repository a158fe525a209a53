"""``meshplane check``'s view of the governed edges: a located problem on each input port its build may not read.

:func:`edge_problem` is the one wording of such a problem: check with or without a catalog, and the build's
refusal (:mod:`meshplane.workspace.agreeing`, :mod:`meshplane.workspace.edges`).
:func:`agreement_problems_without_catalog` answers for a mesh that has no catalog yet (a fresh clone, never
built): no agreement can have been approved, so the access-level rule (:func:`meshplane.access.levels.read_refusal`)
is asked with no grant, from the specs alone. It creates no catalog and loads neither the catalog's database
libraries nor the SQL parser.
"""

from __future__ import annotations

from meshplane.access.levels import agreement_command, read_refusal
from meshplane.graph import Edge, MeshGraph
from meshplane.types import Problem

__all__ = ["agreement_problems_without_catalog", "edge_problem"]


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
    return problems
