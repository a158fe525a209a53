"""One JSON log line per HTTP request: method, path (never the query string), status, milliseconds, user."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meshplane.workspace.logs import EVENTS, log_event

__all__ = ["RequestLog"]


class RequestLog:
    """A plain ASGI middleware (no per-request task, unlike BaseHTTPMiddleware); free when logs are off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not EVENTS.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state: dict[str, Any] = scope.get("state") or {}
            principal = state.get("principal")
            log_event("request", method=scope.get("method"), path=scope.get("path"), status=status[0],
                      ms=round((time.perf_counter() - started) * 1000, 2),
                      user=getattr(principal, "username", None))  # fmt: skip
