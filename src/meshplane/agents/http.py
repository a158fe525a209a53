"""The MCP server over streamable HTTP, mounted by ``meshplane serve`` at ``/mcp/``.

Each request names its user with ``Authorization: Bearer <API token>``, verified by the workspace like the
REST API's; the server is stateless (one MCP exchange per request), so the user set here is the user every
tool of that request acts as.
"""

from __future__ import annotations

import contextvars
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshplane.workspace import Mesh

__all__ = ["McpEndpoint"]

_USER: contextvars.ContextVar[str | None] = contextvars.ContextVar("meshplane_mcp_user", default=None)


def _current_user() -> str:
    user = _USER.get()
    if user is None:  # pragma: no cover - every request is authenticated before it reaches a tool
        raise PermissionError("no authenticated user")
    return user


class McpEndpoint:
    """An ASGI app: bearer-token authentication in front of the SDK's streamable-HTTP app."""

    def __init__(self, mesh: Mesh) -> None:
        from mcp.server.transport_security import TransportSecuritySettings

        from meshplane.agents.tools import build_server

        self.mesh = mesh
        server = build_server(mesh, _current_user)
        # Host checks belong to the deployment (the portal's own origin rules); tokens authenticate here.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        self.app = server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True,
                                              transport_security=security)  # fmt: skip
        self.session_manager = server.session_manager

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import anyio.to_thread

        headers = dict(scope.get("headers") or [])
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        user = None
        if scheme.lower() == "bearer" and token.strip():
            user = await anyio.to_thread.run_sync(self.mesh.access.user_for_token, token.strip())
        if user is None:
            body = json.dumps({"error": "send Authorization: Bearer <token> (meshplane token create USER)"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                }
            )
            await send({"type": "http.response.body", "body": body})  # fmt: skip
            return
        reset = _USER.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            _USER.reset(reset)
