"""Access requests and grants: request, list, approve (with a row filter), deny, revoke; API tokens.

Every step is written to the catalog's append-only audit log by the catalog writer, in the same
transaction as the state change. Grants expire on their own: a grant past its ``until`` never resolves.

Auto-approval: an output port may name teams whose members' requests are approved at once, in its ODPS
``customProperties`` (``{property: autoApprove, value: [royalties-team]}``); the approval is recorded with
the actor ``policy:autoApprove``. Adding teams to the list is a spec change that needs the owner's
approval (:mod:`meshplane.access.ownership`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from meshplane.access.authority import AccessAuthority
from meshplane.access.policy import AccessPolicy, PortTarget
from meshplane.access.principals import Directory
from meshplane.catalog import (
    AccessRequest,
    AccessRequestStatus,
    ApiToken,
    CatalogReader,
    CatalogWriter,
    Grant,
)
from meshplane.errors import AccessDenied, NotFound, UsageError
from meshplane.types import Principal

__all__ = ["AUTO_APPROVER", "AccessWorkflow", "RequestView", "parse_until"]

AUTO_APPROVER = "policy:autoApprove"
MAX_PURPOSE = 2000


@dataclass(frozen=True)
class RequestView:
    """A request as a user sees it in a list: its state now (``expired`` once its grant ran out)."""

    request: AccessRequest
    state: str
    may_decide: bool

    @property
    def id(self) -> str:
        return self.request.id


def parse_until(value: str | date | datetime | None, *, now: datetime | None = None) -> datetime | None:
    """An expiry: a date means the end of that day (UTC); a datetime without a zone is UTC; must be future."""
    if value is None or value == "":
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value + timedelta(days=1), time(0), tzinfo=UTC)
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                moment = datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(0), tzinfo=UTC)
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(f"--until {value!r}: write a date (2026-12-31) or an ISO-8601 time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= (now or datetime.now(UTC)):
        raise UsageError(f"--until {value}: the expiry is in the past")
    return moment.astimezone(UTC)


class AccessWorkflow:
    """The request → decision → grant → revoke workflow of one mesh."""

    def __init__(self, policy: AccessPolicy, directory: Directory, reader: CatalogReader,
                 writer: CatalogWriter, authority: AccessAuthority | None = None) -> None:  # fmt: skip
        self.policy = policy
        self.directory = directory
        self.authority = authority or AccessAuthority(directory, policy)
        self.reader = reader
        self.writer = writer

    def _target(self, port: str) -> PortTarget:
        return self.policy.target(port)

    def request(
        self,
        username: str,
        port: str,
        purpose: str,
        columns: Sequence[str] = (),
        until: str | date | datetime | None = None,
    ) -> AccessRequest:
        """Ask for read access to a restricted port; approved at once when an ``autoApprove`` team matches."""
        principal = self.directory.principal(username)
        target = self._target(port)
        address = str(target.address)
        purpose = (purpose or "").strip()
        if not purpose:
            raise UsageError("say why you need the data: --purpose TEXT")
        if len(purpose) > MAX_PURPOSE:
            raise UsageError(f"the purpose is longer than {MAX_PURPOSE} characters")
        self.authority.may_request(principal, address).require()
        declared = [c.name for c in target.port.contract.columns]
        wanted = list(dict.fromkeys(c.strip() for c in columns if c.strip()))
        unknown = [c for c in wanted if c not in declared]
        if unknown:
            raise UsageError(f"{address} has no column {', '.join(unknown)}; its columns: {', '.join(declared)}")
        expires = parse_until(until)
        pending = self.reader.access_requests(requester=username, ports=[address], status=AccessRequestStatus.PENDING)
        if pending:
            raise UsageError(f"{username} already has a pending request {pending[0].id} for {address}")
        request = self.writer.create_access_request(username, address, purpose, columns=wanted, until=expires)
        team = next((t for t in target.facts.auto_approve if principal.username in self.directory.members(t)), None)
        if team is not None:
            self.writer.approve_access_request(request.id, AUTO_APPROVER, note=f"autoApprove: member of {team}")
            return self.reader.access_request(request.id) or request
        return request

    def _request(self, request_id: str) -> AccessRequest:
        request = self.reader.access_request(request_id)
        if request is None:
            raise NotFound(f"no access request {request_id!r}")
        return request

    def _assert_decider(self, principal: Principal, request: AccessRequest, verb: str) -> PortTarget:
        try:
            target = self._target(request.port)
        except UsageError:
            if principal.is_governance:
                raise UsageError(f"{request.port} is no longer a port of this mesh") from None
            raise AccessDenied(f"{principal.username} may not {verb} requests for {request.port}") from None
        if not self.policy.may_decide(principal, target):
            teams = ", ".join(self.policy.deciders(target))
            raise AccessDenied(
                f"{principal.username} may not {verb} access to {request.port}: only members of {teams} may"
            )
        return target

    def approve(self, username: str, request_id: str, row_filter: str | None = None, note: str = "") -> Grant:
        """Approve a pending request; ``row_filter`` (a predicate over the port's columns) limits the rows."""
        principal = self.directory.principal(username)
        request = self._request(request_id)
        target = self._assert_decider(principal, request, "approve")
        if request.requester == username:
            raise AccessDenied(f"{username} may not approve their own request {request_id}")
        if target.facts.access_level == "private":
            raise AccessDenied(f"{request.port} is private: access to it cannot be granted")
        if request.status is not AccessRequestStatus.PENDING:
            raise UsageError(f"access request {request_id} is {request.status.value}; only pending requests "
                             "can be approved")  # fmt: skip
        if request.until is not None and request.until <= datetime.now(UTC):
            raise UsageError(f"access request {request_id} asked for access until {request.until:%Y-%m-%d}, "
                             "which has passed; ask for a new request")  # fmt: skip
        text = row_filter.strip() if row_filter else None
        if text:
            from meshplane.sql import guard_row_filter, parse_expression  # only a row filter needs the parser

            guard_row_filter(parse_expression(text), [c.name for c in target.port.contract.columns])
        return self.writer.approve_access_request(request_id, username, row_filter=text or None, note=note)

    def deny(self, username: str, request_id: str, note: str = "") -> AccessRequest:
        principal = self.directory.principal(username)
        request = self._request(request_id)
        self._assert_decider(principal, request, "deny")
        if request.status is not AccessRequestStatus.PENDING:
            raise UsageError(f"access request {request_id} is {request.status.value}; only pending requests "
                             "can be denied")  # fmt: skip
        return self.writer.deny_access_request(request_id, username, note=note)

    def revoke(self, username: str, request_id: str, note: str = "") -> AccessRequest:
        """Revoke a grant (a decider) or withdraw one's own request or grant (the requester; for an agreement, the
        consuming product's owners too)."""
        principal = self.directory.principal(username)
        request = self._request(request_id)
        if not self.authority.may_give_up(principal, request.requester, request.product):
            self._assert_decider(principal, request, "revoke")
        if request.status not in (AccessRequestStatus.PENDING, AccessRequestStatus.APPROVED):
            raise UsageError(f"access request {request_id} is {request.status.value}; nothing to revoke")
        return self.writer.revoke_access(request_id, username, note=note)

    def requests(self, username: str, *, pending: bool = False, now: datetime | None = None) -> list[RequestView]:
        """The user's own requests and those they may decide on (everything for the governance team)."""
        principal = self.directory.principal(username)
        status = AccessRequestStatus.PENDING if pending else None
        moment = now or datetime.now(UTC)
        decidable: dict[str, bool] = {}

        def may_decide(port: str) -> bool:
            if port not in decidable:
                try:
                    decidable[port] = self.policy.may_decide(principal, self._target(port))
                except UsageError:
                    decidable[port] = principal.is_governance
            return decidable[port]

        views = []
        for request in self.reader.access_requests(status=status):
            decider = may_decide(request.port)
            if request.requester != username and not decider:
                continue
            state = request.status.value
            if request.status is AccessRequestStatus.APPROVED and request.until is not None and request.until <= moment:
                state = "expired"
            views.append(RequestView(request, state, decider and request.requester != username))
        return views

    def create_token(self, actor: str, username: str, *, name: str = "", expires_at: datetime | None = None,
                     days: int = 90) -> tuple[str, ApiToken]:  # fmt: skip
        """A new API token for ``username`` (by themselves or a platform team member); shown once. It expires
        at ``expires_at``, else ``days`` from now."""
        acting = self.directory.principal(actor)
        self.directory.principal(username)
        self.authority.may_mint_token(acting, username).require()
        expiry = expires_at or datetime.now(UTC) + timedelta(days=days)
        if expiry <= datetime.now(UTC):
            raise UsageError("a token's expiry must lie in the future")
        return self.writer.create_token(username, name=name, expires_at=expiry, actor=actor)

    def tokens(self, actor: str, username: str | None = None) -> list[ApiToken]:
        """``username``'s tokens (default: the actor's own), newest first; the user or the platform team."""
        acting = self.directory.principal(actor)
        owner = username or actor
        self.authority.may_mint_token(acting, owner).require()
        return sorted(self.reader.tokens(username=owner), key=lambda t: t.created_at, reverse=True)

    def revoke_token(self, actor: str, token_id: str) -> ApiToken:
        """Revoke a token at once: its owner or the platform team."""
        acting = self.directory.principal(actor)
        found = next((t for t in self.reader.tokens() if t.id == token_id), None)
        if found is None:
            raise UsageError(f"no API token {token_id!r}; `meshplane token list` shows yours")
        self.authority.may_mint_token(acting, found.username).require()
        self.writer.revoke_token(token_id, actor=actor)
        return next(t for t in self.reader.tokens(username=found.username) if t.id == token_id)
