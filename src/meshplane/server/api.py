"""The REST API under ``/api/v1``: thin routes over the discovery service and the mesh facade.

Every route declares its authorization rule through :func:`~meshplane.server.auth.allow` (see
``meshplane.server.auth.Rule``); the rule is also listed in the route's OpenAPI description.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from meshplane.catalog import AccessRequestStatus
from meshplane.lineage import Direction
from meshplane.server.auth import Rule, allow, discovery
from meshplane.server.querying import arrow_stream, query_as, table_json
from meshplane.types import Principal
from meshplane.workspace.discovery import DiscoveryService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["meshplane"])
QUERIES_PER_USER = 2
"""Governed queries one user runs at once in one server process (the gateway holds the same share)."""

Anyone = Annotated[Principal | None, allow(Rule.PUBLIC)]
User = Annotated[Principal, allow(Rule.AUTHENTICATED)]
Owner = Annotated[Principal, allow(Rule.OWNER)]
Steward = Annotated[Principal, allow(Rule.GOVERNANCE)]
SelfOrPlatform = Annotated[Principal, allow(Rule.SELF_OR_PLATFORM)]


def _svc(request: Request) -> DiscoveryService:
    return discovery(request)


def _json(value: Any) -> Any:
    return jsonable_encoder(value)


_ENCODED: dict[tuple[str, Any], tuple[Any, bytes]] = {}


def _cached_json(kind: str, key: Any, value: Any) -> Response:
    """JSON of a view the discovery service caches: encoded once per cached object, not per request."""
    found = _ENCODED.get((kind, key))
    if found is not None and found[0] is value:
        return Response(found[1], media_type="application/json")
    body = bytes(JSONResponse(jsonable_encoder(value)).body)
    if len(_ENCODED) > 4096:
        _ENCODED.clear()
    _ENCODED[(kind, key)] = (value, body)
    return Response(body, media_type="application/json")


class AccessRequestIn(BaseModel):
    port: str = Field(description="The output port address, <domain>.<product>.<port>.")
    purpose: str = Field(min_length=1, max_length=2000)
    columns: list[str] = Field(default_factory=list, description="Empty: every column.")
    until: datetime | None = Field(default=None, description="When the grant expires (ISO 8601, with zone).")


class AgreementIn(BaseModel):
    product: str = Field(description="The consuming product, <domain>.<product>.")
    port: str = Field(description="The port its build reads, <domain>.<product>.<port>.")
    purpose: str = Field(default="", max_length=2000, description="Empty: the input port's declared purpose.")
    columns: list[str] = Field(default_factory=list, description="Empty: the input port's declared columns.")
    unmasked: list[str] = Field(default_factory=list, description="Columns to read unmasked (decided by people).")
    until: datetime | None = Field(default=None, description="When the agreement expires (ISO 8601, with zone).")


class DecisionIn(BaseModel):
    row_filter: str | None = Field(default=None, description="A predicate over the port's columns (approve only).")
    note: str = Field(default="", max_length=2000)


class QueryIn(BaseModel):
    sql: str = Field(min_length=1, max_length=100_000)
    format: Literal["json", "arrow"] = "json"
    limit: int = Field(default=10_000, ge=1, le=1_000_000, description="Rows returned as JSON at most.")


class TokenIn(BaseModel):
    username: str
    name: str = ""


# --- public ------------------------------------------------------------------------------------------


@router.get("/health", summary="Liveness and the mesh's name [public]")
def health(request: Request, who: Anyone) -> dict[str, Any]:
    service = _svc(request)
    return {"status": "ok", "mesh": service.graph.spec.config.name}


@router.get("/openapi.json", include_in_schema=False, summary="The OpenAPI document [public]")
def openapi(request: Request, who: Anyone) -> dict[str, Any]:
    document: dict[str, Any] = request.app.openapi()
    return document


# --- catalog metadata (authenticated) -------------------------------------------------------------


@router.get("/me", summary="The signed-in principal [authenticated]")
def me(request: Request, who: User) -> dict[str, Any]:
    service = _svc(request)
    user = next((u for u in service.users() if u["username"] == who.username), {})
    return {**user, "governance": who.is_governance, "platform": who.is_platform_admin}


@router.get("/domains", summary="Domains with their owner teams [authenticated]")
def domains(request: Request, who: User) -> Any:
    return _json(_svc(request).reader.domains())


@router.get("/domains/{name}", summary="One domain, its products and their health [authenticated]")
def domain(request: Request, name: str, who: User) -> Any:
    return _json(_svc(request).domain_page_for(who, name))


@router.get("/products", summary="Products with ports and columns [authenticated]")
def products(
    request: Request, who: User, domain: str | None = None, owner_team: str | None = None, status: str | None = None
) -> Any:
    return _json(_svc(request).reader.products(domain=domain, owner_team=owner_team, status=status))


@router.get("/products/{address}", summary="A product page: ports, schema, health, history, lineage [authenticated]")
def product(request: Request, address: str, who: User) -> Any:
    service = _svc(request)
    page = service.product_page_for(who, address)  # one object per page and kind of viewer (owner or not)
    return _cached_json("product", (address, service.authority.may_see_samples(who, address)), page)


@router.get("/ports/{address}", summary="One output port with its columns [authenticated]")
def port(request: Request, address: str, who: User) -> Any:
    service = _svc(request)
    service.column_lineage(address, Direction.UPSTREAM)  # validates the address (404 when unknown)
    record = service.reader.port(address)
    return _json({"port": record, "masks": service.masks(record) if record else {},
                  "approvers": service.approvers_of(address)})  # fmt: skip


@router.get("/contracts/{address}", summary="A port's ODCS contract as JSON [authenticated]")
def contract(request: Request, address: str, who: User) -> Any:
    service = _svc(request)
    service.column_lineage(address, Direction.UPSTREAM)
    record = service.reader.port(address)
    return _json(record.contract if record else {})


@router.get("/search", summary="Ranked search hits with facets; the same as `meshplane search` [authenticated]")
def search(
    request: Request,
    who: User,
    q: str = "",
    kind: Annotated[list[str] | None, Query()] = None,
    domain: Annotated[list[str] | None, Query()] = None,
    classification: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[str] | None, Query()] = None,
    access_level: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    filters = {k: v for k, v in {"kind": kind, "domain": domain, "classification": classification,
                                 "status": status, "access_level": access_level}.items() if v}  # fmt: skip
    key = (q, tuple(sorted((k, tuple(v)) for k, v in filters.items())), limit, offset)
    return _cached_json("search", key, _svc(request).search(q, filters=filters, limit=limit, offset=offset))


@router.get("/lineage/{address}", summary="Product lineage, or column lineage with columns=true [authenticated]")
def lineage(
    request: Request, address: str, who: User, direction: Direction = Direction.BOTH, columns: bool = False,
    depth: Annotated[int | None, Query(ge=1, le=50)] = None,
) -> Any:  # fmt: skip
    service = _svc(request)
    if columns:
        return _json({"address": address, "direction": direction, "edges": service.column_lineage(address, direction)})
    return _json(service.lineage(address, direction, depth=depth))


@router.get("/impact/{address}", summary="Downstream products, columns and granted consumers [authenticated]")
def impact(request: Request, address: str, who: User) -> Any:
    return _json(_svc(request).impact(address, who))


@router.get("/runs", summary="Build runs, newest first [authenticated]")
def runs(
    request: Request, who: User, product: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> Any:
    return _json(_svc(request).runs_for(who, product, limit=limit))


@router.get("/quality/{address}", summary="Contract check results of a product or port [authenticated]")
def quality(request: Request, address: str, who: User, limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> Any:
    service = _svc(request)
    page = service.product_page(address)
    ports = [p.address for p in page.product.ports if address.count(".") == 1 or p.address == address]
    results = [c for p in ports for c in service.check_results_for(who, p, limit=limit)]
    return _json({"history": page.history, "results": results})


@router.get("/slo/{address}", summary="SLO evaluations of a product's ports [authenticated]")
def slo(request: Request, address: str, who: User) -> Any:
    return _json(_svc(request).product_page(address).slo)


@router.get("/usage/{address}", summary="Query usage of a product's ports [authenticated]")
def usage(request: Request, address: str, who: User) -> Any:
    return _json(_svc(request).product_page(address).usage)


@router.get("/governance/report", summary="The latest policy evaluation: matrix, failures, waivers [authenticated]")
def governance_report(request: Request, who: User) -> Any:
    report = _svc(request).governance()
    cells = report.pop("cells")
    report["matrix"] = [{"policy": p, "subject": s, "outcome": o} for (p, s), o in sorted(cells.items())]
    return _json(report)


# --- access requests --------------------------------------------------------------------------------


@router.post("/access-requests", status_code=201, summary="Request access to a port [authenticated]")
def create_request(request: Request, who: User, body: AccessRequestIn) -> Any:
    service = _svc(request)
    return _json(service.request_access(who, body.port, body.purpose, columns=body.columns, until=body.until))


@router.post("/agreements", status_code=201, summary="Request an agreement for a product you own [authenticated]")
def create_agreement(request: Request, who: User, body: AgreementIn) -> Any:
    service = _svc(request)
    made = service.request_agreement(who, body.product, body.port, body.purpose, columns=body.columns,
                                     until=body.until, unmasked=body.unmasked)  # fmt: skip
    return _json(made)


@router.get("/agreements", summary="Agreements of a consuming product or for a port; decide them in the inbox "
            "[authenticated]")  # fmt: skip
def list_agreements(request: Request, who: User, product: str | None = None, port: str | None = None) -> Any:
    return _json(_svc(request).agreements(who, product=product, port=port))


@router.get("/access-requests", summary="The caller's own access requests [authenticated]")
def my_requests(request: Request, who: User) -> Any:
    return _json(_svc(request).requests_of(who))


@router.get("/access-requests/inbox", summary="Requests the caller may decide [product_owner]")
def inbox(request: Request, who: Owner, status: AccessRequestStatus | None = AccessRequestStatus.PENDING) -> Any:
    return _json(_svc(request).inbox(who, status=status))


@router.get("/access-requests/{request_id}", summary="One request: its requester or deciders [authenticated]")
def get_request(request: Request, request_id: str, who: User) -> Any:
    service = _svc(request)
    found = service.reader.access_request(request_id)
    if found is None or (found.requester != who.username and not service.can_decide(who, found.port)):
        return _not_found(f"no access request {request_id}")
    return _json(found)


@router.post("/access-requests/{request_id}/approve", summary="Approve, with an optional row filter [product_owner]")
def approve(request: Request, request_id: str, who: Owner, body: Annotated[DecisionIn | None, Body()] = None) -> Any:
    body = body or DecisionIn()
    return _json(_svc(request).approve(who, request_id, row_filter=body.row_filter, note=body.note))


@router.post("/access-requests/{request_id}/deny", summary="Deny a pending request [product_owner]")
def deny(request: Request, request_id: str, who: Owner, body: Annotated[DecisionIn | None, Body()] = None) -> Any:
    return _json(_svc(request).deny(who, request_id, note=(body or DecisionIn()).note))


@router.post("/access-requests/{request_id}/revoke", summary="Revoke a grant or a pending request [product_owner]")
def revoke(request: Request, request_id: str, who: Owner, body: Annotated[DecisionIn | None, Body()] = None) -> Any:
    return _json(_svc(request).revoke(who, request_id, note=(body or DecisionIn()).note))


@router.post("/access-requests/{request_id}/withdraw", summary="Withdraw one's own request [authenticated]")
def withdraw(request: Request, request_id: str, who: User) -> Any:
    service = _svc(request)
    found = service.reader.access_request(request_id)
    if found is None or found.requester != who.username:
        return _not_found(f"no access request {request_id} of yours")
    return _json(service.revoke(who, request_id, note="withdrawn by the requester"))


@router.get("/grants", summary="The caller's active grants [authenticated]")
def grants(request: Request, who: User) -> Any:
    return _json(_svc(request).grants_of(who))


@router.get("/notifications", summary="Notifications that concern the caller, newest first [authenticated]")
def notifications(request: Request, who: User, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Any:
    records = request.app.state.mesh.notifications.inbox(who.username, limit=limit)
    return [{"id": r.id, "kind": r.kind, "created_at": r.created_at.isoformat(), "subject": r.subject,
             "title": r.title, "details": r.payload.get("details", {})} for r in records]  # fmt: skip


# --- governed query ---------------------------------------------------------------------------------


@router.post(
    "/query",
    summary="Run a governed SQL query as the caller: JSON, or an Arrow IPC stream [authenticated]",
    responses={200: {"content": {"application/json": {}, "application/vnd.apache.arrow.stream": {}}}},
)
async def query(request: Request, who: User, body: QueryIn) -> Any:
    # A few governed queries at a time per process: each ends in catalog writes (query log, audit) that
    # SQLite serialises, and a queue here is fairer and cheaper than writers polling a busy database.
    # Fair share: a caller's queries first queue behind that caller's own (at most QUERIES_PER_USER at once),
    # so one user's long queries never hold every slot while another user's small query waits.
    limiter: anyio.CapacityLimiter = request.app.state.query_limiter
    mine = request.app.state.user_limiters.get(who.username)
    if mine is None:
        mine = request.app.state.user_limiters.setdefault(who.username, anyio.CapacityLimiter(QUERIES_PER_USER))
    async with mine:
        table = await anyio.to_thread.run_sync(query_as, request.app.state.mesh, who, body.sql, limiter=limiter)
    wants_arrow = body.format == "arrow" or "application/vnd.apache.arrow.stream" in request.headers.get("accept", "")
    if wants_arrow:
        return Response(arrow_stream(table), media_type="application/vnd.apache.arrow.stream")
    return table_json(table, body.limit)


# --- governance only --------------------------------------------------------------------------------


@router.get("/audit", summary="The append-only audit log, newest first [governance]")
def audit(
    request: Request, who: Steward, actor: str | None = None, action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> Any:  # fmt: skip
    return _json(_svc(request).reader.audit_log(actor=actor, action=action, limit=limit))


@router.post("/tokens", status_code=201, summary="Create an API token for oneself (the platform team: for anyone) "
             "[self_or_platform]")  # fmt: skip
def create_token(request: Request, who: SelfOrPlatform, body: TokenIn) -> Any:
    service = _svc(request)
    if service.principal(body.username) is None:
        return _not_found(f"{body.username} is not a user of this mesh (declare them in mesh.yaml)")
    service.authority.may_mint_token(who, body.username).require()
    token, info = service.access.create_token(body.username, actor=who.username, name=body.name)
    return _json({"token": token, "id": info.id, "username": info.username, "expires_at": info.expires_at})


@router.get("/tokens", summary="API tokens: one's own; anyone's (?username=) for the platform team [authenticated]")
def list_tokens(request: Request, who: User, username: str | None = None) -> Any:
    return _json(_svc(request).access.tokens(who.username, username))


@router.post("/tokens/{token_id}/revoke", summary="Revoke an API token: one's own, or any for the platform team "
             "[self_or_platform]")  # fmt: skip
def revoke_token(request: Request, token_id: str, who: SelfOrPlatform) -> Any:
    revoked = _svc(request).access.revoke_token(who.username, token_id)
    request.app.state.tokens.clear()  # verified tokens are cached for a few seconds: forget them all now
    return _json(revoked)


def _not_found(message: str) -> Response:
    return JSONResponse({"detail": message}, status_code=404)
