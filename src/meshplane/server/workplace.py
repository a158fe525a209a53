"""Portal pages for working in the mesh: the SQL editor (schema browser of what the person may read, completion,
history and saved queries), managing one's grants and agreements (give up, renew, request), and owners'
annotations of their products. Every decision is the access authority's, reached through the workspace's
services (the same calls as the CLI and the REST API); queries run through the governed gateway."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from meshplane.access.workflow import parse_until
from meshplane.errors import AccessDenied, CatalogError, MeshError, UsageError
from meshplane.server.auth import Rule, allow, discovery
from meshplane.server.portal import SameOrigin, _redirect, _render, error_page
from meshplane.server.querying import query_as
from meshplane.types import Principal
from meshplane.workspace.workbench import COMPLETIONS, BrowserPort, Workbench

__all__ = ["EXAMPLE_SQL", "RESULT_ROWS", "router"]

router = APIRouter(include_in_schema=False)

User = Annotated[Principal, allow(Rule.AUTHENTICATED)]
Owner = Annotated[Principal, allow(Rule.OWNER)]

RESULT_ROWS = 500  # rows shown in the page; the count says how many the query returned

EXAMPLE_SQL = """-- Listening per rights holder: podcasts' listening events joined with royalties' rights holders
SELECT r.rights_holder_name, e.listener_email, count(*) AS listens
FROM podcasts.listening_events AS e
JOIN podcasts.catalog.shows AS s ON s.show_id = e.show_id
JOIN royalties.rights_holders.rights_holders AS r ON r.rights_holder_id = s.rights_holder_id
GROUP BY ALL
ORDER BY listens DESC
LIMIT 20"""


def workbench(request: Request) -> Workbench:
    found: Workbench = request.app.state.workbench
    return found


# --- the SQL editor -------------------------------------------------------------------------------------


def _editor(request: Request, who: Principal, *, sql: str, result: dict[str, Any] | None = None, error: str = "",
            status: int = 200, saved_name: str = "") -> Response:  # fmt: skip
    """The page lists only the domains (catalog counts, no access decision): a domain's readable ports come from
    ``/sql/schema/{domain}`` when it is opened, completion from ``/sql/complete`` and ``/sql/columns/{address}``."""
    bench = workbench(request)
    domains = bench.domains()
    # The domain names go into the page as JSON in a <script type="application/json"> element; "</" is
    # escaped so no name can close the element.
    completions = Markup(json.dumps({"domains": [d.name for d in domains]}).replace("</", "<\\/"))
    return _render(request, "sql.html", who, status=status, sql=sql, result=result, error=error, domains=domains,
                   completions=completions, history=bench.history(who, limit=30), saved=bench.saved(who),
                   saved_name=saved_name)  # fmt: skip


def _port_json(port: BrowserPort) -> dict[str, Any]:
    return {"address": port.address, "description": port.description, "columns": [list(c) for c in port.columns]}


@router.get("/sql/schema/{domain}")
def domain_schema(request: Request, domain: str, who: User) -> dict[str, Any]:
    """The ports of one domain the person may read, with their visible columns (the schema browser opening it)."""
    ports = workbench(request).domain_schema(who, domain)
    return {"domain": domain, "ports": [_port_json(p) for p in ports]}


@router.get("/sql/columns/{address}")
def named_columns(request: Request, address: str, who: User) -> dict[str, Any]:
    """The port a query names (or a product's ports) as the person may read it: completion of its columns."""
    ports = workbench(request).named_ports(who, address)
    return {"address": address, "ports": [_port_json(p) for p in ports]}


@router.get("/sql/complete")
def complete(request: Request, who: User, prefix: Annotated[str, Query(max_length=300)] = "") -> dict[str, Any]:
    """Products and ports the person may read whose address starts with ``prefix`` (at most COMPLETIONS ports,
    decided only for ports matching it); ``complete`` is false when more may exist."""
    ports = workbench(request).complete(who, prefix)
    products = sorted({p.product for p in ports if p.product.startswith(prefix)})
    return {"prefix": prefix, "products": products, "ports": [p.address for p in ports],
            "complete": len(ports) < COMPLETIONS}  # fmt: skip


@router.get("/sql", response_class=HTMLResponse)
def sql_page(request: Request, who: User, history: int | None = None, saved: str = "") -> Response:
    """The editor; ``?history=ID`` or ``?saved=ID`` opens one of the person's own queries in it."""
    bench, sql, name = workbench(request), EXAMPLE_SQL, ""
    if history is not None:
        found = next((h for h in bench.history(who, limit=200) if h.id == history), None)
        if found is None:
            return error_page(request, 404, f"no query {history} in your history")
        sql = found.sql
    elif saved:
        chosen = next((s for s in bench.saved(who) if s.id == saved), None)
        if chosen is None:
            return error_page(request, 404, f"you have no saved query {saved}")
        sql, name = chosen.sql, chosen.name
    return _editor(request, who, sql=sql, saved_name=name)


@router.post("/sql", response_class=HTMLResponse, dependencies=[SameOrigin])
def run_sql(request: Request, who: User, sql: Annotated[str, Form()]) -> Response:
    bench = workbench(request)
    started = time.perf_counter()
    try:
        table = query_as(request.app.state.mesh, who, sql)  # the same governed path as POST /api/v1/query
    except MeshError as error:
        bench.record(who, sql, rows=None, duration_ms=(time.perf_counter() - started) * 1000, error=str(error))
        return _editor(request, who, sql=sql, error=str(error), status=400)
    bench.record(who, sql, rows=table.num_rows, duration_ms=(time.perf_counter() - started) * 1000)
    shown = table.slice(0, RESULT_ROWS)
    result = {"columns": table.column_names, "rows": [list(r.values()) for r in shown.to_pylist()],
              "total": table.num_rows}  # fmt: skip
    return _editor(request, who, sql=sql, result=result)


@router.post("/sql/saved", response_class=HTMLResponse, dependencies=[SameOrigin])
def save_query(request: Request, who: User, sql: Annotated[str, Form()], name: Annotated[str, Form()] = "") -> Response:
    try:
        made = workbench(request).save(who, name, sql)
    except UsageError as error:
        return _editor(request, who, sql=sql, error=str(error), status=400, saved_name=name)
    return _redirect(f"/sql?saved={made.id}")


@router.post("/sql/saved/{query_id}/delete", dependencies=[SameOrigin])
def delete_saved(request: Request, query_id: str, who: User) -> Response:
    try:
        workbench(request).delete_saved(who, query_id)
    except UsageError as error:
        return error_page(request, 404, str(error))
    return _redirect("/sql")


@router.post("/sql/history/clear", dependencies=[SameOrigin])
def clear_history(request: Request, who: User) -> Response:
    workbench(request).clear_history(who)
    return _redirect("/sql")


# --- one's grants and agreements: give up, renew, request ------------------------------------------------


def _own_request(request: Request, who: Principal, request_id: str, *, agreement: bool) -> Any:
    """The request (or agreement) ``who`` may give up or renew, as the access authority says; None otherwise."""
    service = discovery(request)
    found = service.reader.access_request(request_id)
    if found is None or (found.product is not None) != agreement:
        return None
    return found if service.authority.may_give_up(who, found.requester, found.product) else None


def _refused(request: Request, error: MeshError) -> Response:
    status = 403 if isinstance(error, AccessDenied) else 409 if isinstance(error, CatalogError) else 400
    return error_page(request, status, str(error))


@router.post("/requests/{request_id}/renew", dependencies=[SameOrigin])
def renew_grant(request: Request, request_id: str, who: User, until: Annotated[str, Form()] = "") -> Response:
    """Ask again for the same port and columns with a new expiry; the grant in force stays until decided."""
    found = _own_request(request, who, request_id, agreement=False)
    if found is None:
        return error_page(request, 404, f"no access request {request_id} of yours")
    service = discovery(request)
    try:
        made = service.request_access(who, found.port, f"renewal of {found.id}: {found.purpose}"[:2000],
                                      columns=found.columns, until=_until(until))  # fmt: skip
    except MeshError as error:
        return _refused(request, error)
    workbench(request).forget_schema(who)
    return _redirect(f"/requests?renewed={made.id}")


@router.post("/agreements/{request_id}/give-up", dependencies=[SameOrigin])
def give_up_agreement(request: Request, request_id: str, who: User) -> Response:
    found = _own_request(request, who, request_id, agreement=True)
    if found is None:
        return error_page(request, 404, f"no agreement {request_id} of a product you own")
    try:
        discovery(request).revoke(who, request_id, note="given up by the consuming product's owners")
    except MeshError as error:
        return _refused(request, error)
    return _redirect(f"/products/{found.product}#agreements")


@router.post("/agreements/{request_id}/renew", dependencies=[SameOrigin])
def renew_agreement(request: Request, request_id: str, who: User, until: Annotated[str, Form()] = "") -> Response:
    found = _own_request(request, who, request_id, agreement=True)
    if found is None:
        return error_page(request, 404, f"no agreement {request_id} of a product you own")
    try:
        discovery(request).request_agreement(who, found.product or "", found.port, found.purpose,
                                             columns=found.columns, until=_until(until),
                                             unmasked=found.unmasked)  # fmt: skip
    except MeshError as error:
        return _refused(request, error)
    return _redirect(f"/products/{found.product}#agreements")


def _until(text: str) -> datetime | None:
    return parse_until(text or None)  # the workflow's own reading of an expiry (a date, or an ISO-8601 time)


@router.post("/products/{address}/agreements", dependencies=[SameOrigin])
def request_agreement(
    request: Request, address: str, who: Owner, reads: Annotated[str, Form()], purpose: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """An owner asks, for their product, to read another domain's restricted port in its builds."""
    try:
        discovery(request).request_agreement(who, address, reads, purpose.strip(), until=_until(until))
    except MeshError as error:
        return _refused(request, error)
    return _redirect(f"/products/{address}#agreements")


# --- annotations: owners' descriptions and tags, kept apart from the product files -------------------------


@router.post("/products/{address}/annotate", dependencies=[SameOrigin])
def annotate(
    request: Request, address: str, who: Owner, description: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    """The form sends both fields; an empty one removes that annotation."""
    try:
        workbench(request).annotate(who, address, description=description, tags=tags.replace(",", " ").split())
    except MeshError as error:
        return _refused(request, error)
    return _redirect(f"/products/{address}#about")
