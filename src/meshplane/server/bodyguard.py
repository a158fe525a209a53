"""Before any request body is read: a size limit, and authentication for every route that is not public.

FastAPI reads and parses a route's body (JSON, form) before it resolves the route's dependencies, so an
anonymous caller could make the server parse megabytes before ``allow(...)`` refuses it. This ASGI
middleware runs first: for a request with a body it answers 413 when ``Content-Length`` (or the bytes
actually streamed, for chunked bodies) passes ``max_bytes``, and 401 (API) or a redirect to the sign-in page
(portal) when the route it would reach is not :attr:`Rule.PUBLIC` and the caller's token does not verify. Bodies within
the limit are read here and handed on whole.
The principal found is cached on the request's state, so the route's own rule does not look it up again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote

import anyio.to_thread
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshplane.server.auth import Rule, current_principal, route_rule

__all__ = ["DEFAULT_MAX_BODY", "BodyGuard"]

DEFAULT_MAX_BODY = 1024 * 1024
"""Bytes of request body accepted (a governed query's SQL is limited to 100,000 characters)."""
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class BodyGuard:
    """A plain ASGI middleware; requests without a body pass straight through."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self._routes: list[BaseRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in _NO_BODY:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _answer(send, 413, f"the request body is larger than {self.max_bytes} bytes")
            return
        if not await self._authenticated(scope):
            path = str(scope.get("path", ""))
            if path.startswith(("/api/", "/mcp")) or path == "/metrics":
                await _answer(send, 401, "sign in: send Authorization: Bearer <token> (meshplane token create USER)",
                              headers=[(b"www-authenticate", b"Bearer")])  # fmt: skip
            else:
                await _redirect(send, "/login?next=" + quote(path))
            return
        # read the whole body here, bounded, then hand it on: a body larger than the limit is never buffered
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            received += len(body)
            if received > self.max_bytes:
                await _answer(send, 413, f"the request body is larger than {self.max_bytes} bytes")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      receive), send)  # fmt: skip

    async def _authenticated(self, scope: Scope) -> bool:
        if self._routes is None:
            self._routes = _flatten(getattr(getattr(scope.get("app"), "router", None), "routes", ()))
        rules: list[Rule] = []
        for route in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                rules = route_rule(route) if isinstance(route, APIRoute) else [Rule.PUBLIC]
                break
        if not rules or Rule.PUBLIC in rules:
            return True  # public routes, and paths no route serves (404s), need no sign-in
        request = Request(scope)
        principal = await anyio.to_thread.run_sync(current_principal, request)  # a catalog read: off the loop
        return principal is not None


def _flatten(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """Every route, included routers flattened (FastAPI keeps them nested), in matching order."""
    found: list[BaseRoute] = []
    for route in routes:
        included = getattr(route, "original_router", None)
        found.extend(_flatten(included.routes) if included is not None else [route])
    return found


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A receive callable that answers ``messages`` first, then (for disconnects) the real ``receive``."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b""})
