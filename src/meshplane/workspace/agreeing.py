"""``meshplane check``'s view of the agreements: input ports whose product may not read the upstream port now, and
foreign keys whose target port (another product's) the product may not read, which its build refuses the same way.

The same decision a build asks (:class:`~meshplane.workspace.edges.GovernedInputs`), through
:class:`AccessDecisions`, which holds no gateway: check loads neither the SQL parser nor an engine.
"""

from __future__ import annotations

from meshplane.access.agreements import product_principal
from meshplane.errors import AccessDenied
from meshplane.graph import Edge, MeshGraph
from meshplane.types import Problem
from meshplane.workspace.decisions import AccessDecisions
from meshplane.workspace.edge_checks import (
    agreement_problems_without_catalog,
    edge_problem,
    foreign_key_problem,
    foreign_key_reads,
)

__all__ = ["agreement_check", "agreement_problems", "lapsed_reason", "refusal"]


def refusal(access: AccessDecisions, edge: Edge, error: AccessDenied) -> Problem:
    assert edge.upstream_port is not None
    product, port = str(edge.consumer), str(edge.upstream_port)
    lapsed = access.agreements.lapsed(product, port)
    message = None
    if lapsed is not None:
        if lapsed.revoked_at is not None:
            message = f"input port {edge.input.name!r}: the agreement to read {port} was revoked on " \
                      f"{lapsed.revoked_at:%Y-%m-%d %H:%M} UTC"  # fmt: skip
        elif lapsed.expires_at is not None:
            message = f"input port {edge.input.name!r}: the agreement to read {port} expired on " \
                      f"{lapsed.expires_at:%Y-%m-%d %H:%M} UTC"  # fmt: skip
    return edge_problem(edge, str(error), lapsed=message, agreement="agreement" in str(error) or lapsed is not None)


def lapsed_reason(access: AccessDecisions, product: str, port: str) -> str | None:
    """Why an agreement that was approved no longer allows the read (revoked or expired), if one was."""
    lapsed = access.agreements.lapsed(product, port)
    if lapsed is not None and lapsed.revoked_at is not None:
        return f"the agreement of {product} to read {port} was revoked on {lapsed.revoked_at:%Y-%m-%d %H:%M} UTC"
    if lapsed is not None and lapsed.expires_at is not None:
        return f"the agreement of {product} to read {port} expired on {lapsed.expires_at:%Y-%m-%d %H:%M} UTC"
    return None


def agreement_problems(graph: MeshGraph, access: AccessDecisions) -> list[Problem]:
    """A located error on every input port whose product may not read the upstream port now, and on every foreign
    key whose target port the product may not read."""
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
        for address, where in foreign_key_reads(graph, product):
            try:
                access.policy.decide(principal, access.policy.target(str(address)))
            except AccessDenied as error:
                why = lapsed_reason(access, str(product.address), str(address))
                agreement = "agreement" in str(error) or why is not None
                problems.append(foreign_key_problem(product, address, where, str(error), agreement=agreement, why=why))
    return problems


def agreement_check(graph: MeshGraph) -> list[Problem]:
    """``meshplane check``: input ports without the agreement their build needs, against the catalog.

    A mesh without a catalog yet (never published) holds no approved agreement: every read that needs one is
    reported (:func:`~meshplane.workspace.edge_checks.agreement_problems_without_catalog`); check never creates
    a catalog."""
    from meshplane.workspace.platform import Platform, has_catalog

    if not has_catalog(graph.spec):
        return agreement_problems_without_catalog(graph)
    platform = Platform(graph.spec)
    access = AccessDecisions(graph, platform)
    try:
        return agreement_problems(graph, access)
    finally:
        platform.close()
