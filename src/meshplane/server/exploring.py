"""Portal pages for exploring: the glossary browser, a port's page (its column lineage drawn) and its impact
page. Views come from the workspace (``meshplane.workspace.exploring`` over the discovery service); grant holders
are filtered by the access authority there, never here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from meshplane.server.auth import Rule, allow, discovery
from meshplane.server.column_graph import column_lineage_svg
from meshplane.server.layout import LayoutUnavailable
from meshplane.server.portal import _render, error_page
from meshplane.types import Principal
from meshplane.workspace.exploring import glossary_view, port_impact

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

User = Annotated[Principal, allow(Rule.AUTHENTICATED)]


@router.get("/glossary", response_class=HTMLResponse)
def glossary(request: Request, who: User) -> Response:
    return _render(request, "glossary.html", who, terms=glossary_view(discovery(request)), one=None)


@router.get("/glossary/{name}", response_class=HTMLResponse)
def glossary_term(request: Request, name: str, who: User) -> Response:
    return _render(request, "glossary.html", who, terms=glossary_view(discovery(request), name), one=name)


@router.get("/ports/{address}/impact", response_class=HTMLResponse)
def impact(request: Request, address: str, who: User, column: str = "") -> Response:
    view = port_impact(discovery(request), who, address, column or None)
    return _render(request, "impact.html", who, view=view)


@router.get("/ports/{address}", response_class=HTMLResponse)
def port_page(request: Request, address: str, who: User, column: str = "") -> Response:
    """A port: its columns, and its column lineage drawn (upstream and downstream, transitively)."""
    service = discovery(request)
    if address.count(".") != 2:
        return error_page(request, 404, f"{address} is not a port address (<domain>.<product>.<port>)")
    subject = f"{address}.{column}" if column else address
    edges = service.column_lineage(subject)  # NotFound / UsageError for an unknown port: 404 / 400
    note = ""
    try:
        graph = column_lineage_svg(address, edges, service.port_addresses, column or None) if edges else Markup("")
    except LayoutUnavailable as error:
        graph, note = Markup(""), str(error)
    return _render(request, "port.html", who, port=address, columns=service.columns_of(address), edges=edges,
                   graph=graph, note=note, column=column)  # fmt: skip
