"""Who is calling, and the authorization rule every route declares.

A caller is identified by a catalog API token: ``Authorization: Bearer mpt_...`` for the API, or the
portal's session cookie holding the same kind of token. Tokens map to users declared in ``mesh.yaml``;
their teams come from the mesh, and members of the governance team are admins.

Every route depends on exactly one :func:`allow` rule. The app refuses to start with a route that has
none, and ``tests/server/test_route_rules.py`` calls every route as every persona.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request
from fastapi.routing import APIRoute

from meshplane.types import Principal
from meshplane.workspace.discovery import DiscoveryService

__all__ = [
    "CSRF_FIELD",
    "SESSION_COOKIE",
    "AuthRequired",
    "Forbidden",
    "Rule",
    "TokenCache",
    "allow",
    "csrf_token",
    "route_rule",
    "verify_same_origin",
]

SESSION_COOKIE = "meshplane_session"
RULE_ATTRIBUTE = "__meshplane_rule__"


class Rule(StrEnum):
    PUBLIC = "public"
    """Anyone, signed in or not (sign-in page, health, static assets, the OpenAPI document)."""
    AUTHENTICATED = "authenticated"
    """Any user of the mesh with a valid token: catalog metadata, own requests, governed queries."""
    OWNER = "product_owner"
    """The owner team of the product or port in the path (for a request id: its port's owner team or the
    contract's declared approver team), or the governance team."""
    GOVERNANCE = "governance"
    """Members of the mesh's governance team."""
    SELF_OR_PLATFORM = "self_or_platform"
    """The user the request names (its ``username``) themselves, or the platform team (API tokens). The
    dependency checks the caller is signed in; the handler asks the access authority about the named user."""


class AuthRequired(Exception):
    """No valid credentials (401 for the API, a redirect to the sign-in page for the portal)."""


class Forbidden(Exception):
    """Valid credentials, but the rule refuses this principal (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenCache:
    """Verified tokens for a few seconds, so a busy client does not hash and look up on every call."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, str | None]] = {}

    def username(self, token: str, verify: Callable[[str], str | None]) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        username = verify(token)
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token] = (now + self.ttl, username)
        return username

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def forget(self, token: str) -> None:
        with self._lock:
            self._entries.pop(token, None)


def discovery(request: Request) -> DiscoveryService:
    service: DiscoveryService = request.app.state.discovery
    return service


def token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


def current_principal(request: Request) -> Principal | None:
    """The caller's principal, or None (anonymous). Cached on the request."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    principal: Principal | None = None
    token = token_of(request)
    if token:
        service = discovery(request)
        cache: TokenCache = request.app.state.tokens
        username = cache.username(token, service.reader.verify_token)
        principal = service.principal(username) if username else None
    request.state.principal = principal
    return principal


def _resource_port(request: Request, service: DiscoveryService) -> str | None:
    """The address the OWNER rule is about: from the path's ``address``, or the request id's port."""
    params = request.path_params
    if "address" in params:
        return str(params["address"])
    if "request_id" in params:
        found = service.reader.access_request(str(params["request_id"]))
        return found.port if found else None
    return None


def allow(rule: Rule) -> Any:
    """The dependency a route declares: ``dependencies=[allow(Rule.X)]`` or a parameter of its type."""

    def check(request: Request) -> Principal | None:
        principal = current_principal(request)
        if rule is Rule.PUBLIC:
            return principal
        if principal is None:
            raise AuthRequired()
        if rule is Rule.AUTHENTICATED or rule is Rule.SELF_OR_PLATFORM:
            return principal
        if rule is Rule.GOVERNANCE:
            if not principal.is_governance:
                raise Forbidden("only the governance team may do this")
            return principal
        service = discovery(request)
        address = _resource_port(request, service)
        if principal.is_governance:
            return principal
        if address is None:
            # No resource in the path (an inbox): every owner team may look at its own part.
            if any(service.owns(principal, str(p)) for p in service.graph.products):
                return principal
            raise Forbidden("only product owner teams may do this")
        allowed = (
            service.can_decide(principal, address)
            if "request_id" in request.path_params or address.count(".") == 2
            else service.owns(principal, address)
        )
        if not allowed:
            raise Forbidden(f"only the owner team of {address} (or the governance team) may do this")
        return principal

    setattr(check, RULE_ATTRIBUTE, rule)
    check.__name__ = f"allow_{rule.value}"
    return Depends(check)


Signed = Annotated[Principal, allow(Rule.AUTHENTICATED)]


def route_rule(route: APIRoute) -> list[Rule]:
    """The rules a route declares (exactly one is expected)."""
    found: list[Rule] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        rule = getattr(dependant.call, RULE_ATTRIBUTE, None)
        if isinstance(rule, Rule):
            found.append(rule)
        stack.extend(dependant.dependencies)
    return found


CSRF_FIELD = "csrf"


def csrf_token(session: str) -> str:
    """The form token of a portal session: an HMAC keyed by the session's own (HttpOnly) token, so a page of
    another site can neither read nor compute it, and every worker process derives the same one."""
    return hmac.new(session.encode("utf-8", "replace"), b"meshplane-portal-form", hashlib.sha256).hexdigest()


def verify_same_origin(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Refuse cross-site form posts to the portal: a foreign or ``null`` Origin (sandboxed frames, data:
    URLs), and, when a session cookie is sent, a missing or wrong form token (the cookie is SameSite=Strict
    as well). Posts authenticated by a bearer header carry no ambient credential and need no form token."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is not None and (origin.strip() == "null" or urlsplit(origin).netloc != request.headers.get("host", "")):
        raise Forbidden("cross-site form submissions are refused")
    session = request.cookies.get(SESSION_COOKIE)
    by_cookie = session and not request.headers.get("authorization")
    if by_cookie and (not csrf or not hmac.compare_digest(csrf, csrf_token(session or ""))):
        raise Forbidden("the form was not sent from this portal page (or it is stale): reload the page")
