"""Governed edges: a product's build reads its inputs as a consumer, through the access decision.

:class:`GovernedInputs` binds each input port of a product for its build: an upstream port is resolved for
the product's principal (``product:<domain>.<product>``) by the same :class:`AccessPolicy` resolver as a
person's query and becomes the same governed SELECT (:func:`meshplane.access.rewrite.port_relation`: granted
columns, masks, row filter), which the engine runs in its sandbox; a declared source is read as its contract
says. A read the decision refuses fails the build with a located error on the input port and the command
that requests the missing agreement. Every read of another product's port is recorded in the query log
(as the product's principal), so public ports show their consumers too.

:func:`agreement_problems` is ``meshplane check``'s view of the same decisions.
"""

from __future__ import annotations

from meshplane.access.agreements import product_principal
from meshplane.access.policy import agreement_command
from meshplane.access.rewrite import port_relation
from meshplane.builds.inputs import source_relation
from meshplane.catalog import AccessRequest, QueryDecision
from meshplane.engines.base import GovernedRelation, Relation
from meshplane.errors import AccessDenied, BuildError, QueryRejected
from meshplane.graph import Edge, MeshGraph
from meshplane.spec import ProductSpec
from meshplane.sql import PortRef, render
from meshplane.types import Problem
from meshplane.workspace.access import AccessService

__all__ = ["GovernedInputs", "agree_declared_as_owners", "agreement_check", "agreement_problems"]


def _refusal(access: AccessService, edge: Edge, error: AccessDenied) -> Problem:
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


def agreement_problems(graph: MeshGraph, access: AccessService) -> list[Problem]:
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
                problems.append(_refusal(access, edge, error))
    return problems


class GovernedInputs:
    """The Builder's input binder: each input as the product's agreements and the domain's policies allow."""

    def __init__(self, graph: MeshGraph, access: AccessService) -> None:
        self.graph = graph
        self.access = access

    def __call__(self, product: ProductSpec) -> dict[str, Relation]:
        access = self.access
        principal = product_principal(access.directory, product)
        resolver = access.policy.resolver(principal)
        key = access.consumer_key(principal.username)
        root = self.graph.spec.root
        bound: dict[str, Relation] = {}
        for edge in self.graph.edges[product.address]:
            if edge.source is not None:
                bound[edge.input.name] = source_relation(self.graph, edge.source)
                continue
            assert edge.upstream_port is not None
            address = str(edge.upstream_port)
            try:
                port = resolver(PortRef(address))
                select = render(port_relation(port, key))
            except AccessDenied as error:
                access.record_read(principal.username, address, QueryDecision.DENIED, str(error))
                problem = _refusal(access, edge, error)
                fix = f"; fix: {problem.hint}" if problem.hint else ""
                raise BuildError(f"{problem.location.render(root)}: {problem.message}{fix}") from None
            except QueryRejected:  # the only refusal left: no snapshot yet, so say which product to build first
                raise BuildError(
                    f"{edge.input.location().render(root)}: input port {edge.input.name!r} reads {address}, which "
                    f"has never been published; build it first: meshplane build +{edge.consumer}"
                ) from None
            access.record_read(principal.username, address, QueryDecision.ALLOWED, "")
            bound[edge.input.name] = GovernedRelation(select, tuple(port.files), address)
        return bound


def agreement_check(graph: MeshGraph) -> list[Problem]:
    """``meshplane check``: input ports without the agreement their build needs, against the catalog.

    A mesh without a catalog yet (never published) holds no agreement and has nothing to read: check leaves
    agreements to its first build, which refuses at the input port (check never creates a catalog, and
    stays free of the catalog's database libraries)."""
    from meshplane.workspace.platform import Platform, has_catalog

    if not has_catalog(graph.spec):
        return []
    platform = Platform(graph.spec)
    access = AccessService(graph, platform)
    try:
        return agreement_problems(graph, access)
    finally:
        access.close()
        platform.close()


def agree_declared_as_owners(
    graph: MeshGraph, access: AccessService, *, default_purpose: str | None = None
) -> list[tuple[AccessRequest, str, str]]:
    """Request every agreement the input ports declare, as the consuming team's owner, and approve it as the
    producing team's owner: the examples' set-up (``meshplane demo``) and tests. Returns (request, requester,
    approver) for each agreement made."""
    owners = {team.name: next((m.username for m in team.members if m.role == "owner"), None)
              for team in graph.spec.config.teams}  # fmt: skip
    made = []
    for product in graph.products.values():
        requester = owners.get(product.team)
        if requester is None:
            continue
        for request in access.request_declared_agreements(requester, str(product.address), default_purpose):
            approver = owners.get(access.policy.target(request.port).owner_team)
            if approver is None:
                continue
            access.approve(approver, request.id, note="approved as declared by the consuming product")
            made.append((request, requester, approver))
    return made
