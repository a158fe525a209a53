"""Data usage agreements: the grants a consuming product holds to read other domains' ports in its build.

An agreement is an access request made *for a product*: a member of the consuming product's owner team (or
the platform team) asks with a purpose, the columns the product needs, an optional expiry and, explicitly,
any column it must read unmasked; the producer's deciders (the port's owner teams, the contract's approvers,
the governance team) approve it, with an optional row filter, or deny it. Its grant goes to the principal
``product:<domain>.<product>`` (:meth:`Directory.product_principal`), so the build reads the port through
the same decision and the same governed SELECT as a person holding that grant. Deciding, revoking and the
audit trail are the access workflow's (:mod:`meshplane.access.workflow`); only the request differs.

Which reads need one is the access decision's answer (:meth:`AccessPolicy.decide`): public ports need none,
a product's own domain's ports follow the domain's policies, everything else needs an active agreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from meshplane.access.authority import AccessAuthority
from meshplane.access.principals import Directory
from meshplane.access.workflow import AUTO_APPROVER, MAX_PURPOSE, parse_until
from meshplane.catalog import PRODUCT_GRANTEE, AccessRequest, AccessRequestStatus, CatalogReader, CatalogWriter, Grant
from meshplane.errors import UsageError
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.types import Address, Principal

__all__ = ["AgreementView", "Agreements", "product_principal"]


def product_principal(directory: Directory, product: ProductSpec) -> Principal:
    return directory.product_principal(str(product.address), product.team)


@dataclass(frozen=True)
class AgreementView:
    """An agreement request with its state now: pending, approved, denied, revoked or expired."""

    request: AccessRequest
    state: str

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def product(self) -> str:
        return self.request.product or ""


class Agreements:
    """Requests and lists the agreements of one mesh's products."""

    def __init__(self, graph: MeshGraph, authority: AccessAuthority, reader: CatalogReader,
                 writer: CatalogWriter) -> None:  # fmt: skip
        self.graph = graph
        self.authority = authority
        policy, directory = authority.policy, authority.directory
        self.policy = policy
        self.directory = directory
        self.reader = reader
        self.writer = writer

    def consumer(self, product: str) -> ProductSpec:
        try:
            address = Address.parse(product)
        except ValueError:
            raise UsageError(f"{product!r} is not a product address; write domain.product") from None
        spec = self.graph.products.get(address.product_address) if address.product else None
        if spec is None or address.port is not None:
            raise UsageError(f"no product {product} in this mesh; name the consuming product as domain.product")
        return spec

    def request(
        self,
        username: str,
        product: str,
        port: str,
        purpose: str,
        columns: Sequence[str] = (),
        until: str | date | datetime | None = None,
        unmasked: Sequence[str] = (),
    ) -> AccessRequest:
        """Ask, for ``product``, to read ``port`` in its builds; only its owner team (or the platform team) may."""
        actor = self.directory.principal(username)
        consumer = self.consumer(product)
        target = self.policy.target(port)
        address = str(target.address)
        edge = next((e for e in self.graph.edges[consumer.address] if e.upstream_port == target.address), None)
        if edge is None:
            raise UsageError(
                f"{consumer.address} has no input port reading {address}; declare it under inputPorts: in "
                f"{consumer.document.path.name} first"
            )
        self.authority.may_request_agreement(actor, str(consumer.address), address).require()
        # what the input port declares (customProperties purpose, columns) is the default request
        purpose = purpose or edge.input.purpose or ""
        columns = columns or edge.input.columns
        purpose = (purpose or "").strip()
        if not purpose:
            raise UsageError("say why the product needs the data: --purpose TEXT")
        if len(purpose) > MAX_PURPOSE:
            raise UsageError(f"the purpose is longer than {MAX_PURPOSE} characters")
        declared = [c.name for c in target.port.contract.columns]
        wanted = list(dict.fromkeys(c.strip() for c in columns if c.strip()))
        raw = list(dict.fromkeys(c.strip() for c in unmasked if c.strip()))
        unknown = [c for c in (*wanted, *raw) if c not in declared]
        if unknown:
            raise UsageError(f"{address} has no column {', '.join(unknown)}; its columns: {', '.join(declared)}")
        not_asked = [c for c in raw if wanted and c not in wanted]
        if not_asked:
            raise UsageError(f"--unmasked {', '.join(not_asked)}: ask for the column in --columns too")
        unmaskable = [c for c in raw if c not in target.facts.masks]
        if unmaskable:
            raise UsageError(f"--unmasked {', '.join(unmaskable)}: not masked for consumers of {address}")
        expires = parse_until(until)
        pending = self.reader.access_requests(product=str(consumer.address), ports=[address],
                                              status=AccessRequestStatus.PENDING)  # fmt: skip
        active = self.reader.grants(grantee=product_principal(self.directory, consumer).username, port=address)
        same = [g for g in active if set(g.columns) == set(wanted) and set(g.unmasked) == set(raw)]
        if same and expires is None:  # asking again for what it holds (a change of columns or expiry is new)
            raise UsageError(f"{consumer.address} already holds agreement {same[0].request_id} for {address}")
        if pending:
            raise UsageError(
                f"{consumer.address} already has a pending agreement request {pending[0].id} for {address}"
            )
        request = self.writer.create_access_request(username, address, purpose, columns=wanted, until=expires,
                                                    product=str(consumer.address), unmasked=raw)  # fmt: skip
        if consumer.team in target.facts.auto_approve and not raw:  # unmasked reads are always decided by people
            self.writer.approve_access_request(request.id, AUTO_APPROVER, note=f"autoApprove: {consumer.team}")
            return self.reader.access_request(request.id) or request
        return request

    def request_declared(self, username: str, product: str | None = None,
                         default_purpose: str | None = None) -> list[AccessRequest]:  # fmt: skip
        """Request every agreement the products' input ports declare (a purpose) and do not hold yet.

        Only products ``username`` may request for; ports already agreed or with a pending request are skipped."""
        actor = self.directory.principal(username)
        made = []
        products = [self.consumer(product)] if product else list(self.graph.products.values())
        for consumer in products:
            principal = product_principal(self.directory, consumer)
            for edge in self.graph.edges[consumer.address]:
                purpose = edge.input.purpose or default_purpose
                if edge.upstream_port is None or not purpose:
                    continue
                address = str(edge.upstream_port)
                if not self.authority.may_request_agreement(actor, str(consumer.address), address):
                    continue
                if self.reader.grants(grantee=principal.username, port=address) or self.reader.access_requests(
                    product=str(consumer.address), ports=[address], status=AccessRequestStatus.PENDING
                ):
                    continue
                made.append(self.request(username, str(consumer.address), address, purpose))
        return made

    def views(self, *, product: str | None = None, port: str | None = None,
             now: datetime | None = None) -> list[AgreementView]:  # fmt: skip
        """Agreement requests, newest first: of one consuming product, or for one port, or all."""
        moment = now or datetime.now(UTC)
        chosen = str(self.consumer(product).address) if product else None
        views = []
        for request in self.reader.access_requests(product=chosen, ports=[port] if port else None):
            if not request.product:
                continue
            state = request.status.value
            if request.status is AccessRequestStatus.APPROVED and request.until is not None and request.until <= moment:
                state = "expired"
            views.append(AgreementView(request, state))
        return views

    def grants(self, product: str) -> list[Grant]:
        """The agreements of ``product`` in force now."""
        return self.reader.grants(grantee=PRODUCT_GRANTEE + str(self.consumer(product).address))

    def lapsed(self, product: str, port: str) -> Grant | None:
        """The most recent agreement of ``product`` for ``port`` that was in force once but is not now."""
        grantee = PRODUCT_GRANTEE + product
        now = datetime.now(UTC)
        past = [
            g for g in self.reader.grants(grantee=grantee, port=port, include_inactive=True) if not g.active_at(now)
        ]
        return past[-1] if past else None
