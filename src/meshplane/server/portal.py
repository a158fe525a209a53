"""The web portal: server-rendered Jinja2 pages over the discovery service. Forms post back; no JS required."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlglot import exp

from meshplane.catalog import AccessRequestStatus, SearchKind
from meshplane.errors import AccessDenied, CatalogError, MeshError, UsageError
from meshplane.lineage import product_edges
from meshplane.server import charts, profile_pages
from meshplane.server.auth import (
    SESSION_COOKIE,
    Rule,
    allow,
    csrf_token,
    discovery,
    token_of,
    verify_same_origin,
)
from meshplane.server.layout import LayoutUnavailable, layout_map, map_svg
from meshplane.server.querying import QueryUnavailable, query_as
from meshplane.types import Address, Principal

__all__ = ["error_page", "router"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["Bar"] = charts.Bar
templates.env.filters["bars"] = charts.bars
# An expiry is the first instant without access (a date "until 2099-12-31" ends at 2100-01-01 00:00 UTC):
# pages show the last day with access.
templates.env.filters["last_day"] = lambda moment: (moment - timedelta(microseconds=1)).strftime("%Y-%m-%d")

Anyone = Annotated[Principal | None, allow(Rule.PUBLIC)]
User = Annotated[Principal, allow(Rule.AUTHENTICATED)]
Owner = Annotated[Principal, allow(Rule.OWNER)]
SelfOrPlatform = Annotated[Principal, allow(Rule.SELF_OR_PLATFORM)]
SameOrigin = Depends(verify_same_origin)

MAP_MAX_PRODUCTS = 1500  # Graphviz lays out 1,500 products in about 2 s (once; cached); more are drawn per focus


def _render(request: Request, name: str, who: Principal | None, status: int = 200, **context: Any) -> Response:
    service = discovery(request)
    decider = who is not None and _is_decider(request, who)
    inbox = len(service.inbox(who)) if who is not None and decider else 0
    session = request.cookies.get(SESSION_COOKIE)
    base = {"who": who, "mesh": service.graph.spec.config, "dev_mode": request.app.state.dev_mode,
            "inbox_count": inbox, "is_decider": decider,
            "csrf": csrf_token(session) if session else ""}  # fmt: skip
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


def _is_decider(request: Request, who: Principal) -> bool:
    service = discovery(request)
    return who.is_governance or service.authority.owns_any(who)


def error_page(request: Request, status: int, message: str) -> Response:
    who = getattr(request.state, "principal", None)
    return _render(request, "error.html", who, status=status, status_code=status, message=message)


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


# --- sign-in ------------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, who: Anyone, next: str = "/", error: str = "") -> Response:
    return _render(request, "login.html", who, users=discovery(request).users(), next=_safe_next(next), error=error)


def _safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.post("/login", dependencies=[SameOrigin])
def login(
    request: Request, who: Anyone, username: Annotated[str, Form()], token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:  # fmt: skip
    service = discovery(request)
    target = _safe_next(next)
    if token.strip():
        owner = service.reader.verify_token(token.strip())
        if owner is None or owner != username or service.principal(owner) is None:
            return _redirect(f"/login?next={quote(target)}&error=" + quote("that token is not valid for " + username))
        session = token.strip()
    elif request.app.state.dev_mode and service.principal(username) is not None:
        session, _ = service.access.create_token(username, name="portal sign-in (dev mode)")
    else:
        return _redirect(f"/login?next={quote(target)}&error=" + quote("paste your API token to sign in"))
    response = _redirect(target)
    response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", path="/")
    return response


@router.post("/logout", dependencies=[SameOrigin])
def logout(request: Request, who: Anyone) -> Response:
    token = token_of(request)
    if token:
        request.app.state.tokens.forget(token)
    response = _redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- discovery pages --------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, who: User) -> Response:
    return _render(request, "home.html", who, overview=discovery(request).overview())


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request, who: User, q: str = "", kind: Annotated[list[str] | None, Query()] = None,
    domain: Annotated[list[str] | None, Query()] = None, classification: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None, access_level: Annotated[list[str] | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=500)] = 1,
) -> Response:  # fmt: skip
    chosen = {k: v for k, v in {"kind": kind, "domain": domain, "classification": classification,
                                "status": status, "access_level": access_level}.items() if v}  # fmt: skip
    results = discovery(request).search(q, filters=chosen, limit=20, offset=(page - 1) * 20)
    return _render(request, "search.html", who, q=q, results=results, chosen=chosen, page=page,
                   SearchKind=SearchKind)  # fmt: skip


@router.get("/domains/{name}", response_class=HTMLResponse)
def domain_page(request: Request, name: str, who: User) -> Response:
    return _render(request, "domain.html", who, page=discovery(request).domain_page_for(who, name))


def _sample(request: Request, who: Principal, port: str) -> dict[str, Any]:
    domain, product, name = port.split(".")
    tree = exp.select(exp.Star()).from_(exp.table_(name, db=product, catalog=domain)).limit(5)
    try:
        table = query_as(request.app.state.mesh, who, tree.sql(dialect="duckdb"))
    except QueryUnavailable:
        return {"note": "Sample rows appear here once the governed query gateway is available."}
    except AccessDenied:
        return {"note": "You have no access to this port yet: request access to see sample rows."}
    except MeshError as error:
        return {"note": f"No sample: {error}"}
    return {"columns": table.column_names, "rows": [list(r.values()) for r in table.to_pylist()]}


@router.get("/products/{address}", response_class=HTMLResponse)
def product_page(request: Request, address: str, who: User, requested: str = "") -> Response:
    service = discovery(request)
    page = service.product_page_for(who, address)
    samples = {p.address: _sample(request, who, p.address) for p in page.product.ports}
    # the person's own requests (an agreement they asked for on behalf of a product is not their access)
    mine = {r.port: r for r in service.requests_of(who) if r.product is None and r.status in (
        AccessRequestStatus.PENDING, AccessRequestStatus.APPROVED)}  # fmt: skip
    # both sides of an edge: the agreements this product holds, and those held for its ports
    agreements = service.agreements(who, product=page.product.address) + [
        a for port in page.product.ports for a in service.agreements(who, port=port.address)
    ]
    owns = service.owns(who, page.product.address)
    return _render(
        request, "product.html", who, page=page, samples=samples, mine=mine, requested=requested,
        lineage=charts.lineage_svg(page.lineage), owns=owns, agreements=agreements,
        annotations=request.app.state.workbench.annotations(page.product.address),
        may_annotate=owns or who.is_governance, inputs=_agreement_inputs(request, page.product.address) if owns else [],
        quality_trend=profile_pages.quality_trend(page.history),
        **profile_pages.product_profiles(service, who, page.product.address),
    )  # fmt: skip


def _agreement_inputs(request: Request, product: str) -> list[str]:
    """Upstream ports of other domains this product reads: those its owners may ask an agreement for."""
    return sorted({e.port for e in product_edges(discovery(request).graph)
                   if e.downstream == product and not e.source and e.cross_domain})  # fmt: skip


@router.post("/products/{address}/request", dependencies=[SameOrigin])
def request_access(
    request: Request, address: str, who: User, port: Annotated[str, Form()], purpose: Annotated[str, Form()] = "",
    columns: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    service = discovery(request)
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    try:
        created = service.request_access(who, port, purpose, columns=wanted)
    except (UsageError, AccessDenied) as error:
        return error_page(request, 400, str(error))
    return _redirect(f"/products/{address}?requested={created.id}#access")


@router.get("/map", response_class=HTMLResponse)
def mesh_map(request: Request, who: User, focus: str = "") -> Response:
    service = discovery(request)
    edges = product_edges(service.graph)
    cross = [e for e in edges if not e.source and e.cross_domain]
    view = service.lineage(focus) if focus else None  # NotFound/UsageError for an unknown product: 404/400
    upstream = {n.address for n in view.nodes if n.depth < 0 and n.kind == "product"} if view else set()
    downstream = {n.address for n in view.nodes if n.depth > 0 and n.kind == "product"} if view else set()
    shown = None  # every product, unless the mesh is too large to draw whole: then the focus's lineage only
    if len(service.graph.products) > MAP_MAX_PRODUCTS:
        shown = {focus, *upstream, *downstream} if focus else set()
    # one sort of what is drawn (not a sort of the whole mesh per domain)
    drawn = service.graph.products if shown is None else [a for a in map(Address.parse, shown)
                                                          if a in service.graph.products]  # fmt: skip
    by_domain: dict[str, list[str]] = defaultdict(list)
    for address in sorted(drawn):
        by_domain[address.domain].append(str(address))
    grouped = [(d.name, by_domain[d.name]) for d in service.graph.spec.domains if by_domain.get(d.name)]
    if shown == set():
        many = len(service.graph.products)
        svg, note = Markup(""), (f"This mesh has {many:,} products, too many to draw at once: open a product's "
                                 "map (its product page links it) to see its upstream and downstream.")  # fmt: skip
    else:
        try:
            svg, note = map_svg(layout_map(grouped, edges), focus=focus or None, upstream=upstream,
                                downstream=downstream), ""  # fmt: skip
        except LayoutUnavailable as error:
            svg, note = charts.mesh_map_svg(grouped, edges), str(error)
    return _render(request, "map.html", who, svg=svg, note=note, cross=cross[:500], focus=focus,
                   upstream=sorted(upstream), downstream=sorted(downstream))  # fmt: skip


@router.get("/requests", response_class=HTMLResponse)
def my_requests(request: Request, who: User, renewed: str = "") -> Response:
    service = discovery(request)
    own = [r for r in service.requests_of(who) if r.product is None]  # agreements live on their product's page
    return _render(request, "requests.html", who, requests=own, grants=service.grants_of(who), renewed=renewed)


@router.post("/requests/{request_id}/withdraw", dependencies=[SameOrigin])
def withdraw(request: Request, request_id: str, who: User) -> Response:
    service = discovery(request)
    found = service.reader.access_request(request_id)
    if found is None or found.requester != who.username:
        return error_page(request, 404, f"no access request {request_id} of yours")
    # pending: withdrawn; approved: the grant given up (the workflow lets a requester revoke their own)
    service.revoke(who, request_id, note="withdrawn by the requester")
    request.app.state.workbench.forget_schema(who)
    return _redirect("/requests")


@router.get("/tokens", response_class=HTMLResponse)
def my_tokens(request: Request, who: User) -> Response:
    return _render(request, "tokens.html", who, tokens=discovery(request).access.tokens(who.username), created=None,
                   now=datetime.now(UTC))  # fmt: skip


@router.post("/tokens", response_class=HTMLResponse, dependencies=[SameOrigin])
def create_my_token(request: Request, who: User, name: Annotated[str, Form(max_length=100)] = "") -> Response:
    access = discovery(request).access
    token, info = access.create_token(who.username, name=name.strip() or "portal")
    return _render(request, "tokens.html", who, tokens=access.tokens(who.username), created=(token, info),
                   now=datetime.now(UTC))  # fmt: skip


@router.post("/tokens/{token_id}/revoke", dependencies=[SameOrigin])
def revoke_my_token(request: Request, token_id: str, who: SelfOrPlatform) -> Response:
    discovery(request).access.revoke_token(who.username, token_id)
    request.app.state.tokens.clear()  # verified tokens are cached for a few seconds: forget them all now
    return _redirect("/tokens")


@router.get("/governance", response_class=HTMLResponse)
def governance(request: Request, who: User) -> Response:
    service = discovery(request)
    return _render(request, "governance.html", who, report=service.governance(),
                   compliance=profile_pages.compliance_context(service))  # fmt: skip


# --- notifications: what concerns the signed-in user ------------------------------------------------------


@router.get("/notifications", response_class=HTMLResponse)
def notifications(request: Request, who: User, kind: str = "") -> Response:
    records = request.app.state.mesh.notifications.inbox(who.username, limit=200)
    kinds = sorted({r.kind for r in records})
    shown = [r for r in records if not kind or r.kind == kind]
    return _render(request, "notifications.html", who, notes=shown, kinds=kinds, kind=kind)


# --- the owner's inbox ---------------------------------------------------------------------------------


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, who: Owner, done: str = "") -> Response:
    service = discovery(request)
    pending = service.inbox(who)
    decided = [r for r in service.inbox(who, status=None) if r.status is not AccessRequestStatus.PENDING][:50]
    columns = {r.port: [c.name for c in service.columns_of(r.port)] for r in pending}
    return _render(request, "inbox.html", who, pending=pending, decided=decided, columns=columns, done=done)


@router.post("/inbox/{request_id}/approve", dependencies=[SameOrigin])
def approve(
    request: Request, request_id: str, who: Owner, row_filter: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    try:
        discovery(request).approve(who, request_id, row_filter=row_filter or None, note=note)
    except (UsageError, CatalogError) as error:
        return error_page(request, 409 if isinstance(error, CatalogError) else 400, str(error))
    return _redirect(f"/inbox?done={request_id}")


@router.post("/inbox/{request_id}/deny", dependencies=[SameOrigin])
def deny(request: Request, request_id: str, who: Owner, note: Annotated[str, Form()] = "") -> Response:
    try:
        discovery(request).deny(who, request_id, note=note)
    except (UsageError, CatalogError) as error:
        return error_page(request, 409 if isinstance(error, CatalogError) else 400, str(error))
    return _redirect(f"/inbox?done={request_id}")


@router.post("/inbox/{request_id}/revoke", dependencies=[SameOrigin])
def revoke(request: Request, request_id: str, who: Owner, note: Annotated[str, Form()] = "") -> Response:
    try:
        discovery(request).revoke(who, request_id, note=note)
    except (UsageError, CatalogError) as error:
        return error_page(request, 409 if isinstance(error, CatalogError) else 400, str(error))
    return _redirect(f"/inbox?done={request_id}")
