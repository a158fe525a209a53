"""``meshplane check``'s view of the agreements: input ports whose product may not read the upstream port now.

The same decision a build asks (:class:`~meshplane.workspace.edges.GovernedInputs`), through
:class:`AccessDecisions`, which holds no gateway: check loads neither the SQL parser nor an engine.
"""

from __future__ import annotations

from meshplane.access.agreements import product_principal
from meshplane.access.policy import agreement_command
from meshplane.errors import AccessDenied
from meshplane.graph import Edge, MeshGraph
from meshplane.types import Problem
from meshplane.workspace.decisions import AccessDecisions

__all__ = ["agreement_check", "agreement_problems", "refusal"]


def refusal(access: AccessDecisions, edge: Edge, error: AccessDenied) -> Problem:
    assert edge.upstream_port is not None
    product, port = str(edge.consumer), str(edge.upstream_port)
    message = f"input port {edge.input.name!r} may not read {port}: " + str(error).split("; request one with:")[0]
    lapsed = access.agreements.lapsed(product, port)
    if lapsed is not None:
        if lapsed.revoked_at is not None:
            message = f"input port {edge.input.name!r}: the agreement to read {port} was revoked on " \
                      f"{lapsed.revoked_at:%Y-%m-%d %H:%M} UTC"  # fmt: skip
        elif lapsed.expires_at is not None:
            message = f"input port {edge.input.name!r}: the agreement to read {port} expired on " \
                      f"{lapsed.expires_at:%Y-%m-%d %H:%M} UTC"  # fmt: skip
    hint = ""
    if "agreement" in str(error) or lapsed:
        hint = agreement_command(product, port, edge.input.purpose, edge.input.columns)
    return Problem(edge.input.location(), message, hint, code="agreement")


def agreement_problems(graph: MeshGraph, access: AccessDecisions) -> list[Problem]:
    """A located error on every input port whose product may not read the upstream port now."""
    problems = []
    for product in graph.products.values():
        principal = product_principal(access.directory, product)
        for edge in graph.edges[product.address]:
            if edge.upstream_port is None:
                continue
            try:
                access.policy.decide(principal, access.policy.target(str(edge.upstream_port)))
            except AccessDenied as error:
                problems.append(refusal(access, edge, error))
    return problems


def agreement_check(graph: MeshGraph) -> list[Problem]:
    """``meshplane check``: input ports without the agreement their build needs, against the catalog.

    A mesh without a catalog yet (never published) holds no agreement and has nothing to read: check leaves
    agreements to its first build, which refuses at the input port (check never creates a catalog, and
    stays free of the catalog's database libraries)."""
    from meshplane.workspace.platform import Platform, has_catalog

    if not has_catalog(graph.spec):
        return []
    platform = Platform(graph.spec)
    access = AccessDecisions(graph, platform)
    try:
        return agreement_problems(graph, access)
    finally:
        platform.close()
