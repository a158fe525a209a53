"""Portal pages for exploring: the glossary browser and the impact page of a port. Views come from the workspace
(``meshplane.workspace.exploring`` over the discovery service); grant holders are filtered by the access
authority there, never here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from meshplane.server.auth import Rule, allow, discovery
from meshplane.server.portal import _render
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
