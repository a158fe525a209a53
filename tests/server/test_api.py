"""The REST API over the built media example: catalog reads, search parity with the CLI, the access flow."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from meshplane.cli.app import _register_commands
from meshplane.cli.common import app as cli_app
from meshplane.workspace import Mesh
from server.conftest import TestClient
from server.helpers import CONSUMER, GOVERNANCE, OWNER, bearer

PORT = "podcasts.listening_events.listening_events"


def test_catalog_reads(client: TestClient, tokens: dict[str, str]) -> None:
    auth = bearer(tokens, CONSUMER)
    assert {d["name"] for d in client.get("/api/v1/domains", headers=auth).json()} == {
        "films", "podcasts", "royalties", "tv"}  # fmt: skip
    page = client.get("/api/v1/products/podcasts.listening_events", headers=auth).json()
    assert page["product"]["owner_team"] == "podcasts-team"
    assert page["health"]["status"] == "healthy" and page["history"]
    assert page["masks"][PORT] == {"listener_email": "hash", "ip_address": "partial"}
    assert page["approvers"][PORT] == ["podcasts-team"]
    email = next(c for c in page["product"]["ports"][0]["columns"] if c["name"] == "listener_email")
    assert email["classification"] == "pii"
    contract = client.get(f"/api/v1/contracts/{PORT}", headers=auth).json()
    assert contract["id"] == PORT and contract["kind"] == "DataContract"
    assert client.get("/api/v1/products/podcasts.nothing", headers=auth).status_code == 404
    assert client.get("/api/v1/runs?product=podcasts.listening_events", headers=auth).json()[0]["status"] == "success"
    quality = client.get(f"/api/v1/quality/{PORT}", headers=auth).json()
    assert quality["results"] and all(r["port"] == PORT for r in quality["results"])
    openapi = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/search" in openapi["paths"] and "/api/v1/access-requests/{request_id}/approve" in openapi["paths"]


def test_search_matches_the_cli(client: TestClient, tokens: dict[str, str], mesh: Mesh) -> None:
    api = client.get("/api/v1/search", params={"q": "listening", "limit": 10}, headers=bearer(tokens, CONSUMER)).json()
    assert api["hits"][0]["address"].startswith("podcasts.listening")
    _register_commands()
    result = CliRunner().invoke(cli_app, ["search", "listening", "--limit", "10", "--format", "json",
                                          "--mesh", str(mesh.root)])  # fmt: skip
    assert result.exit_code == 0, result.output
    cli = json.loads(result.output)
    assert [h["address"] for h in cli["hits"]] == [h["address"] for h in api["hits"]]
    assert cli["facets"] == api["facets"] and cli["total"] == api["total"]
    pii = client.get("/api/v1/search", params={"q": "listener", "classification": "pii"},
                     headers=bearer(tokens, CONSUMER)).json()  # fmt: skip
    assert {h["classification"] for h in pii["hits"]} == {"pii"}


def test_lineage_and_impact(client: TestClient, tokens: dict[str, str]) -> None:
    auth = bearer(tokens, CONSUMER)
    view = client.get("/api/v1/lineage/podcasts.listening_events?direction=downstream", headers=auth).json()
    assert {n["address"] for n in view["nodes"] if n["depth"] > 0} == {
        "podcasts.listening_insights", "royalties.creator_payouts"}  # fmt: skip
    columns = client.get(f"/api/v1/lineage/{PORT}.listener_id?columns=true&direction=downstream", headers=auth).json()
    assert {"downstream_port": "podcasts.listening_insights.daily_listens", "downstream_column": "unique_listeners",
            "upstream_port": PORT, "upstream_column": "listener_id"} in columns["edges"]  # fmt: skip
    impact = client.get("/api/v1/impact/podcasts.listening_events", headers=auth).json()
    assert "royalties.creator_payouts" in impact["products"] and "royalties-team" in impact["owner_teams"]


def test_access_request_flow(client: TestClient, tokens: dict[str, str]) -> None:
    consumer, owner, steward = bearer(tokens, CONSUMER), bearer(tokens, OWNER), bearer(tokens, GOVERNANCE)
    for request in client.get("/api/v1/access-requests", headers=consumer).json():  # start clean
        if request["status"] == "pending":
            client.post(f"/api/v1/access-requests/{request['id']}/withdraw", headers=consumer)
    created = client.post("/api/v1/access-requests", headers=consumer,
                          json={"port": PORT, "purpose": "royalty statements"})  # fmt: skip
    assert created.status_code == 201, created.text
    request_id = created.json()["id"]
    again = client.post("/api/v1/access-requests", headers=consumer, json={"port": PORT, "purpose": "again"})
    assert again.status_code == 400 and "pending" in again.json()["detail"]
    assert client.post(f"/api/v1/access-requests/{request_id}/approve", headers=consumer).status_code == 403
    assert request_id in {r["id"] for r in client.get("/api/v1/access-requests/inbox", headers=owner).json()}
    bad = client.post(f"/api/v1/access-requests/{request_id}/approve", headers=owner,
                      json={"row_filter": "password = 'x'"})  # fmt: skip
    assert bad.status_code == 400 and "not a column" in bad.json()["detail"]
    grant = client.post(f"/api/v1/access-requests/{request_id}/approve", headers=owner,
                        json={"row_filter": "country_code = 'FR'"})  # fmt: skip
    assert grant.status_code == 200 and grant.json()["row_filter"] == "country_code = 'FR'"
    assert client.post(f"/api/v1/access-requests/{request_id}/deny", headers=owner).status_code in (400, 409)
    assert PORT in {g["port"] for g in client.get("/api/v1/grants", headers=consumer).json()}
    impact = client.get(f"/api/v1/impact/{PORT}", headers=consumer).json()
    assert CONSUMER in impact["consumers"]
    assert client.post(f"/api/v1/access-requests/{request_id}/revoke", headers=steward).status_code == 200
    assert PORT not in {g["port"] for g in client.get("/api/v1/grants", headers=consumer).json()}
    audit = client.get("/api/v1/audit?action=access.approve", headers=steward).json()
    assert audit[0]["actor"] == OWNER and audit[0]["detail"]["request"] == request_id
    private = client.post("/api/v1/access-requests", headers=bearer(tokens, OWNER),
                          json={"port": "royalties.rights_holders.royalty_rates", "purpose": "x"})  # fmt: skip
    assert private.status_code == 403


def test_query_answers_clearly(client: TestClient, tokens: dict[str, str], mesh: Mesh) -> None:
    response = client.post("/api/v1/query", headers=bearer(tokens, CONSUMER),
                           json={"sql": "SELECT count(*) AS n FROM podcasts.catalog.shows"})  # fmt: skip
    if not hasattr(mesh, "connect"):
        assert response.status_code == 503 and "gateway" in response.json()["detail"]
    else:
        assert response.status_code == 200 and response.json()["rows"][0][0] > 0


def test_bad_tokens_and_unknown_users(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer mpt_nope"}).status_code == 401
    me = client.get("/api/v1/me", headers=bearer(tokens, GOVERNANCE)).json()
    assert me["username"] == GOVERNANCE and me["governance"] is True
    made = client.post("/api/v1/tokens", headers=bearer(tokens, GOVERNANCE), json={"username": "mallory"})
    assert made.status_code == 404


def test_agreements_over_rest(client: TestClient, tokens: dict[str, str]) -> None:
    """The example's agreement shows to the consuming product's team and to the port's deciders; requesting one
    for a product the caller does not own is refused, and a second request for a held agreement too."""
    consumer, owner = bearer(tokens, CONSUMER), bearer(tokens, OWNER)
    for who in (consumer, owner):  # raj is in royalties-team (the consumer), bilal in podcasts-team (the port)
        listed = client.get("/api/v1/agreements?product=royalties.creator_payouts", headers=who).json()
        assert [(a["product"], a["port"], a["status"]) for a in listed] == [
            ("royalties.creator_payouts", PORT, "approved")]  # fmt: skip
    assert (
        client.get(f"/api/v1/agreements?port={PORT}", headers=owner).json()[0]["product"] == "royalties.creator_payouts"
    )
    refused = client.post("/api/v1/agreements", headers=owner,
                          json={"product": "royalties.creator_payouts", "port": PORT})  # fmt: skip
    assert refused.status_code == 403 and "owner team" in refused.json()["detail"]
    held = client.post("/api/v1/agreements", headers=consumer,
                       json={"product": "royalties.creator_payouts", "port": PORT})  # fmt: skip
    assert held.status_code == 400 and "already holds agreement" in held.json()["detail"]
