"""REST routes for profiles, anomalies and trends (``/api/v1``). What a viewer sees of a profile is decided by
the access authority in the workspace (:meth:`DiscoveryService.profiles_for`), never here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder

from meshplane.errors import NotFound
from meshplane.server.auth import Rule, allow, discovery
from meshplane.types import Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["meshplane"])

User = Annotated[Principal, allow(Rule.AUTHENTICATED)]


@router.get("/ports/{address}/profile", summary="A port's latest profile, as the caller may see it [authenticated]")
def port_profile(request: Request, address: str, who: User) -> Any:
    service = discovery(request)
    history = service.profile_history_for(who, address, limit=1)
    if not history:
        raise NotFound(f"{address} has no profile yet: its first successful build records one")
    return jsonable_encoder(history[-1])


@router.get("/ports/{address}/profiles", summary="A port's profiles, oldest first, as the caller may see them "
            "[authenticated]")  # fmt: skip
def port_profiles(request: Request, address: str, who: User, limit: Annotated[int, Query(ge=1, le=500)] = 120) -> Any:
    return jsonable_encoder(discovery(request).profile_history_for(who, address, limit=limit))


@router.get("/products/{address}/anomalies", summary="Anomalies of a product's ports against their own history "
            "(row count, freshness, null share) [authenticated]")  # fmt: skip
def product_anomalies(request: Request, address: str, who: User) -> Any:
    return jsonable_encoder(discovery(request).profile_view(address).anomalies)


@router.get("/governance/trend", summary="Compliance over the newest policy evaluations, oldest first "
            "[authenticated]")  # fmt: skip
def governance_trend(request: Request, who: User, limit: Annotated[int, Query(ge=1, le=365)] = 30) -> Any:
    return jsonable_encoder(discovery(request).compliance_trend(limit=limit))
