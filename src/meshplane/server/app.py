"""The FastAPI application: the REST API (``/api/v1``) and the portal, over one opened mesh."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Mount

from meshplane.errors import AccessDenied, CatalogError, MeshError, NotFound, QueryRejected, UsageError
from meshplane.server import api, exploring, metrics, oidc, portal, profiling, workplace
from meshplane.server.auth import AuthRequired, Forbidden, TokenCache, route_rule
from meshplane.server.bodyguard import BodyGuard
from meshplane.server.querying import QueryUnavailable
from meshplane.server.requests_log import RequestLog
from meshplane.server.warmup import warm_up
from meshplane.workspace import Mesh
from meshplane.workspace.discovery import DiscoveryService
from meshplane.workspace.logs import configure_json_logs

__all__ = ["DEV_ENV", "MESH_ENV", "app_from_env", "create_app"]

MESH_ENV = "MESHPLANE_SERVE_MESH"
DEV_ENV = "MESHPLANE_SERVE_DEV"
PUBLISHED_ENV = "MESHPLANE_SERVE_PUBLISHED"  # "1": the parent already published; workers skip it
THREADS_ENV = "MESHPLANE_SERVE_THREADS"
# Sync routes run in anyio's thread pool. Catalog and gateway calls block (and mostly release the GIL in
# SQLite, PostgreSQL and DuckDB), so enough threads keep 50 clients moving without queueing on the pool.
DEFAULT_THREADS = 64
DEFAULT_QUERIES = 4  # governed queries running at once per process (the rest wait their turn)
STATIC = Path(__file__).parent / "static"


def _is_api(request: Request) -> bool:
    """Machine routes answer 401/403 with JSON (a scraper is never redirected to the sign-in page)."""
    return request.url.path.startswith("/api/") or request.url.path == "/metrics"


def _problem(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    return portal.error_page(request, status, message)


def _status_for(error: MeshError) -> int:
    if isinstance(error, AccessDenied):
        return 403
    if isinstance(error, QueryUnavailable):
        return 503
    if isinstance(error, CatalogError):
        return 409
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, UsageError | QueryRejected):
        return 400
    return 400


def _mcp_endpoint(mesh: Mesh) -> Any:
    """The MCP endpoint for agents, when the ``mcp`` extra is installed."""
    try:
        from meshplane.agents.http import McpEndpoint

        return McpEndpoint(mesh)
    except ImportError:
        return None


def create_app(mesh: Mesh, *, dev_mode: bool = False, threads: int | None = None, queries: int | None = None,
               sso: oidc.OidcSettings | None = None, warm: bool = True) -> FastAPI:  # fmt: skip
    """The app for one opened mesh. ``dev_mode`` lets the portal's sign-in page switch users without a token;
    ``threads`` sizes the thread pool that runs the (blocking) routes; ``sso`` adds OpenID Connect sign-in;
    ``warm`` does the first requests' one-time work at start-up (server/warmup.py), before serving."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = threads or DEFAULT_THREADS
        app.state.query_limiter = anyio.CapacityLimiter(queries or DEFAULT_QUERIES)
        app.state.user_limiters = {}  # username -> CapacityLimiter(api.QUERIES_PER_USER), made in this loop
        if warm:
            await anyio.to_thread.run_sync(warm_up, app)  # before the first request: server/warmup.py
        if agents is None:
            yield
            return
        async with agents.session_manager.run():  # the MCP endpoint's sessions live as long as the app
            yield

    app = FastAPI(
        lifespan=lifespan,
        title=f"meshplane: {mesh.spec.config.title or mesh.name}",
        version="1",
        description="Discover, request and query the data products of a data mesh. "
        "Authenticate with `Authorization: Bearer <token>` (`meshplane token create USER`).",
        openapi_url=None,  # served by a route that declares its rule: /api/v1/openapi.json
        docs_url=None,
        redoc_url=None,
    )
    app.state.mesh = mesh
    app.state.discovery = DiscoveryService(mesh.graph, mesh.platform, access=mesh.access)
    app.state.workbench = mesh.workbench
    app.state.tokens = TokenCache()
    app.state.dev_mode = dev_mode
    app.state.oidc = oidc.OidcFlow(sso) if sso is not None else None
    app.state.query_limiter = anyio.CapacityLimiter(queries or DEFAULT_QUERIES)  # replaced in lifespan's loop
    app.state.user_limiters = {}
    app.include_router(api.router)
    app.include_router(profiling.router)
    app.include_router(metrics.router)
    app.include_router(portal.router)
    app.include_router(exploring.router)
    app.include_router(workplace.router)
    app.include_router(oidc.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    agents = _mcp_endpoint(mesh)
    if agents is not None:
        app.mount("/mcp", agents, name="mcp")  # AI agents: streamable-HTTP MCP (meshplane.agents)
    app.add_middleware(BodyGuard)  # size limit and sign-in before any body is read
    app.add_middleware(RequestLog)

    @app.exception_handler(AuthRequired)
    def _auth_required(request: Request, exc: AuthRequired) -> Response:
        if _is_api(request):
            return _problem(request, 401, "sign in: send Authorization: Bearer <token> (meshplane token create USER)")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _problem(request, 403, exc.message)

    @app.exception_handler(MeshError)
    def _mesh_error(request: Request, exc: MeshError) -> Response:
        return _problem(request, _status_for(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            errors: Any = [{k: e.get(k) for k in ("loc", "msg", "type")} for e in exc.errors()]
            return JSONResponse({"detail": errors}, status_code=422)
        return portal.error_page(request, 422, "the form is incomplete: " + "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()))  # fmt: skip

    check_rules(app)
    return app


def all_routes(app: FastAPI) -> list[BaseRoute]:
    """Every route of the app, with included routers flattened (FastAPI keeps them nested)."""
    found: list[BaseRoute] = []
    stack: list[BaseRoute] = list(reversed(app.router.routes))
    while stack:
        route = stack.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            stack.extend(reversed(included.routes))
        else:
            found.append(route)
    return found


def check_rules(app: FastAPI) -> None:
    """Refuse to build an app with a route that declares no authorization rule (or several)."""
    for route in all_routes(app):
        if isinstance(route, APIRoute):
            rules = route_rule(route)
            if len(rules) != 1:
                methods = sorted(route.methods or ())
                raise RuntimeError(f"route {methods} {route.path} declares {len(rules)} rules; use one allow()")
        # /mcp authenticates every request itself (bearer token) and its tools act through the facade as that user
        elif not (isinstance(route, Mount) and route.path in ("/static", "/mcp")):
            raise RuntimeError(f"route {getattr(route, 'path', route)!r} is not an API route with a declared rule")


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory meshplane.server:app_from_env`` (``meshplane serve`` uses it)."""
    path = os.environ.get(MESH_ENV)
    if not path:
        raise RuntimeError(f"set {MESH_ENV} to the mesh folder to serve")
    configure_json_logs()
    mesh = Mesh.open(path)
    if os.environ.get(PUBLISHED_ENV) != "1":
        mesh.publish()
    threads = int(os.environ.get(THREADS_ENV) or DEFAULT_THREADS)
    return create_app(mesh, dev_mode=os.environ.get(DEV_ENV) == "1", threads=threads, sso=oidc.OidcSettings.from_env())
