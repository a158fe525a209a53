"""Every route declares one authorization rule, and every rule holds for every persona.

The test walks ALL routes of the app (API and portal), so a new route without ``allow(...)`` fails here
(and ``create_app`` refuses to start with one).
"""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from meshplane.server.app import all_routes, check_rules
from meshplane.server.auth import Rule, route_rule
from meshplane.workspace import Mesh
from server.conftest import TestClient
from server.helpers import CONSUMER, GOVERNANCE, OWNER, PERSONAS, bearer

PRODUCT = "podcasts.listening_events"
PORT = "podcasts.listening_events.listening_events"
BODY = {"port": PORT, "purpose": "route rule test", "sql": "SELECT 1", "username": CONSUMER}
FORM = {"port": PORT, "purpose": "route rule test", "sql": "SELECT 1", "username": CONSUMER, "row_filter": "",
        "note": ""}  # fmt: skip


def _routes(client: TestClient) -> list[APIRoute]:
    app = client.app
    assert isinstance(app, FastAPI)
    return [r for r in all_routes(app) if isinstance(r, APIRoute)]


def _expected(rule: Rule, persona: str, route: APIRoute) -> bool:
    """Whether ``persona`` passes ``rule`` on the sample resource (podcasts' listening events)."""
    if rule is Rule.PUBLIC:
        return True
    if persona == "anonymous":
        return False
    if rule is Rule.AUTHENTICATED:
        return True
    if rule is Rule.GOVERNANCE:
        return persona == GOVERNANCE
    if rule is Rule.SELF_OR_PLATFORM:  # BODY and the path's token name the consumer; no persona is platform
        return persona == CONSUMER
    # OWNER: the podcasts owner and governance; without a resource in the path, any owner team's member
    # (the consumer owns royalties products, so their own inbox is open to them).
    resource = "{request_id}" in route.path or "{address}" in route.path
    return persona in (OWNER, GOVERNANCE) or not resource


def _url(route: APIRoute, request_id: str, token_id: str = "") -> str:
    port_paths = ("/ports/", "/contracts/")
    address = PORT if any(p in route.path for p in port_paths) else PRODUCT
    values = {"address": address, "name": "podcasts", "request_id": request_id, "token_id": token_id,
              "query_id": "0123456789abcdef", "domain": "podcasts"}  # fmt: skip
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], route.path)


def test_every_route_declares_exactly_one_rule(client: TestClient) -> None:
    routes = _routes(client)
    assert len(routes) >= 40
    for route in routes:
        assert len(route_rule(route)) == 1, f"{route.path} must declare one allow(Rule.X)"


def test_an_app_with_an_undeclared_route_refuses_to_start() -> None:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    router = APIRouter()

    @router.get("/naked")
    def naked() -> dict[str, str]:
        return {}

    app.include_router(router)
    with pytest.raises(RuntimeError, match="/naked declares 0 rules"):
        check_rules(app)


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_route_against_every_persona(client: TestClient, mesh: Mesh, tokens: dict[str, str],
                                           persona: str) -> None:  # fmt: skip
    writer = mesh.platform.catalog.writer
    checked = 0
    for route in _routes(client):
        rule = route_rule(route)[0]
        for method in sorted(route.methods or ()):
            request_id = writer.create_access_request(CONSUMER, PORT, "route rule test").id
            token_id = writer.create_token(CONSUMER, name="route rule test")[1].id  # the body's user's token
            url = _url(route, request_id, token_id)
            headers = {**bearer(tokens, persona), "origin": "http://testserver"}
            client.cookies.clear()  # personas authenticate by header; a sign-in route's cookie must not carry over
            if method == "GET":
                response = client.get(url, headers=headers, follow_redirects=False)
            elif url.startswith("/api/"):
                response = client.request(method, url, headers=headers, json=BODY, follow_redirects=False)
            else:
                response = client.request(method, url, headers=headers, data=FORM, follow_redirects=False)
            refused = response.status_code in (401, 403) or (
                response.status_code == 303 and response.headers["location"].startswith("/login?next=")
            )
            allowed = _expected(rule, persona, route)
            assert refused != allowed, (
                f"{method} {route.path} [{rule.value}] as {persona}: {response.status_code} {response.text[:200]}"
            )
            if not allowed and persona == "anonymous" and url.startswith("/api/"):
                assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
            assert response.status_code < 500 or response.status_code == 503, (method, url, response.text[:300])
            checked += 1
    assert checked >= 40
