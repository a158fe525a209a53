"""Governed edges: a product's build reads its inputs as a consumer, through the access decision.

:class:`GovernedInputs` binds each input port of a product for its build: an upstream port is resolved for
the product's principal (``product:<domain>.<product>``) by the same :class:`AccessPolicy` resolver as a
person's query and becomes the same governed SELECT (:func:`meshplane.access.rewrite.port_relation`: granted
columns, masks, row filter), which the engine runs in its sandbox; a declared source is read as its contract
says. A read the decision refuses fails the build with a located error on the input port and the command
that requests the missing agreement. Every read of another product's port is recorded in the query log
(as the product's principal), so public ports show their consumers too.

:func:`meshplane.workspace.agreeing.agreement_problems` is ``meshplane check``'s view of the same decisions.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshplane.access.agreements import product_principal
from meshplane.access.rewrite import port_relation
from meshplane.builds.inputs import source_relation
from meshplane.catalog import AccessRequest, QueryDecision
from meshplane.engines.base import GovernedRelation, Relation
from meshplane.errors import AccessDenied, BuildError, QueryRejected
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.sql import PortRef, render
from meshplane.types import Address
from meshplane.workspace.access import AccessService
from meshplane.workspace.agreeing import refusal

__all__ = ["GovernedInputs", "agree_declared_as_owners"]


class GovernedInputs:
    """The Builder's input binder: each input as the product's agreements and the domain's policies allow."""

    def __init__(self, graph: MeshGraph, access: AccessService) -> None:
        self.graph = graph
        self.access = access

    def __call__(self, product: ProductSpec) -> dict[str, Relation]:
        return self.bind(product)

    def bind(self, product: ProductSpec, staged: Mapping[Address, Relation] | None = None) -> dict[str, Relation]:
        """Each input of ``product``; ``staged``: upstream ports built (not published) in this run, as
        ``meshplane test --staged`` has them. A staged result has passed no access decision, so only products
        whose team owns the upstream port (who read it raw anyway) read it; any other reader is refused,
        located, with how to test it instead."""
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
            if staged is not None and edge.upstream_port in staged:
                if not access.policy.is_owner(principal, access.policy.target(address)):
                    raise BuildError(
                        f"{edge.input.location().render(root)}: input port {edge.input.name!r} reads {address}, "
                        f"staged in this run: an unpublished result is read only by its own team's products; "
                        f"publish it first (meshplane build {edge.upstream_port.product_address}), then test "
                        f"{product.address} without selecting it"
                    )
                bound[edge.input.name] = staged[edge.upstream_port]
                continue
            try:
                port = resolver(PortRef(address))
                select = render(port_relation(port, key))
            except AccessDenied as error:
                access.record_read(principal.username, address, QueryDecision.DENIED, str(error))
                problem = refusal(access, edge, error)
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
