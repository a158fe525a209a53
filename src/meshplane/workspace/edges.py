"""Governed edges: a product's build reads its inputs as a consumer, through the access decision.

:class:`GovernedInputs` binds each input port of a product for its build: an upstream port is resolved for
the product's principal (``product:<domain>.<product>``) by the same :class:`AccessPolicy` resolver as a
person's query and becomes the same governed SELECT (:func:`meshplane.access.rewrite.port_relation`: granted
columns, masks, row filter), which the engine runs in its sandbox; a declared source is read as its contract
says. A read the decision refuses fails the build with a located error on the input port and the command
that requests the missing agreement. Every read of another product's port is recorded in the query log
(as the product's principal), so public ports show their consumers too. A contract's foreign key into another
product's port reads it the same way (:meth:`GovernedInputs.reference`).

:func:`meshplane.workspace.agreeing.agreement_problems` is ``meshplane check``'s view of the same decisions.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshplane.access.agreements import product_principal
from meshplane.access.query_ports import PortResolver, ReadablePort
from meshplane.access.rewrite import port_relation
from meshplane.builds.inputs import source_relation
from meshplane.builds.plan import SourceStates
from meshplane.catalog import AccessRequest, QueryDecision
from meshplane.engines.base import GovernedRelation, Relation
from meshplane.errors import AccessDenied, BuildError, QueryRejected
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.sql import PortRef, render
from meshplane.types import Address, SourceLocation
from meshplane.workspace.access import AccessService
from meshplane.workspace.agreeing import lapsed_reason, refusal
from meshplane.workspace.checking import ReferenceRead
from meshplane.workspace.edge_checks import foreign_key_fix

__all__ = ["GovernedInputs", "agree_declared_as_owners"]


class GovernedInputs:
    """The Builder's input binder: each input as the product's agreements and the domain's policies allow."""

    def __init__(self, graph: MeshGraph, access: AccessService) -> None:
        self.graph = graph
        self.access = access

    def __call__(self, product: ProductSpec, sources: SourceStates | None = None) -> dict[str, Relation]:
        return self.bind(product, sources=sources)

    def bind(
        self,
        product: ProductSpec,
        staged: Mapping[Address, Relation] | None = None,
        *,
        sources: SourceStates | None = None,
    ) -> dict[str, Relation]:
        """Each input of ``product``; ``sources``: the files its build listed for each file source (see
        :class:`~meshplane.builds.plan.SourceState`). ``staged``: upstream ports built (not published) in this run, as
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
                bound[edge.input.name] = source_relation(self.graph, edge.source, sources)
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
                port, select = self._governed(resolver, key, address)
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

    @staticmethod
    def _governed(resolver: PortResolver, key: str, address: str) -> tuple[ReadablePort, str]:
        """The port as the resolver's principal may read it, and its governed SELECT."""
        port = resolver(PortRef(address))
        return port, render(port_relation(port, key))

    def reference(self, product: ProductSpec, port: Address, where: SourceLocation,
                  staged: Relation | None = None) -> ReferenceRead | None:  # fmt: skip
        """Another product's port as a foreign key of ``product``'s contract (written at ``where``) reads it: as
        the product's input ports read theirs (its agreement's columns, masks and row filter; recorded in the query
        log), a result staged in this run only by its own team's products. None when it was never published; a
        read the decision refuses is a located BuildError naming the agreement that is missing."""
        access = self.access
        principal = product_principal(access.directory, product)
        address, shown = str(port), where.render(self.graph.spec.root)
        target = access.policy.target(address)
        if staged is not None:
            if not access.policy.is_owner(principal, target):
                raise BuildError(
                    f"{shown}: the foreign key reads {address}, staged in this run: an unpublished result is read "
                    f"only by its own team's products; publish it first (meshplane build {port.product_address})"
                )
            return ReferenceRead(staged, reader=principal.username, address=address)
        try:
            resolver, key = access.policy.resolver(principal), access.consumer_key(principal.username)
            readable, select = self._governed(resolver, key, address)
        except AccessDenied as error:
            access.record_read(principal.username, address, QueryDecision.DENIED, str(error))
            lapsed = lapsed_reason(access, str(product.address), address)
            why = lapsed or str(error).split("; request one with:")[0]
            fix = ""
            if "agreement" in str(error) or lapsed is not None:  # an agreement is made for an input port
                edge = next((e for e in self.graph.edges[product.address] if e.upstream_port == port), None)
                fix = f"; fix: {foreign_key_fix(product, port, edge)}"
            raise BuildError(f"{shown}: the foreign key reads {address}, which {product.address} may not read: "
                             f"{why}{fix}") from None  # fmt: skip
        except QueryRejected:  # never published (or not a table): the check fails as with no target
            return None
        access.record_read(principal.username, address, QueryDecision.ALLOWED, "")
        return ReferenceRead(
            GovernedRelation(select, tuple(readable.files), address),
            columns=frozenset(c.name.lower() for c in readable.visible_columns()),
            masked=frozenset(name.split(".", 1)[0] for name in readable.masks),
            filtered=readable.row_filter is not None,
            reader=principal.username,
            address=address,
        )


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
