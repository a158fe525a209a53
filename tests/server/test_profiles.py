"""Profiles over REST and in the portal, as each viewer may see them: PII never valued, a restricted port's values
only for grant holders (and not through a row filter), charts on the product page, trends on governance."""

from __future__ import annotations

import re
from typing import Any

from meshplane.workspace import Mesh
from server.conftest import TestClient
from server.helpers import OWNER

PORT = "podcasts.listening_events.listening_events"
PRODUCT = "podcasts.listening_events"
PII = ("listener_email", "ip_address")


def _token(mesh: Mesh, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mesh.platform.catalog.writer.create_token(user, name='profiles')[0]}"}


def _columns(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/v1/ports/{PORT}/profile", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["port"] == PORT and body["row_count"] > 0
    return {c["name"]: c for c in body["columns"]}


def _valued(column: dict[str, Any]) -> bool:
    return column["min"] is not None or bool(column["top"]) or bool(column["histogram"])


def _raw_values(mesh: Mesh, column: str) -> set[str]:
    table = mesh.read(PORT)
    return {str(v) for v in table.column(column).to_pylist() if v is not None}


def test_owner_sees_values_but_never_of_pii(client: TestClient, mesh: Mesh) -> None:
    columns = _columns(client, _token(mesh, OWNER))
    assert _valued(columns["episode_id"]) and _valued(columns["started_at"])
    assert columns["started_at"]["kind"] == "date" and columns["started_at"]["histogram"]
    for name in PII:
        assert columns[name]["sensitive"] and not _valued(columns[name]) and columns[name]["distinct"] is None
        assert isinstance(columns[name]["nulls"], int)  # counts are shown
    stored = repr(mesh.profile(PORT))
    assert not any(value in stored for value in list(_raw_values(mesh, "listener_email"))[:50])


def test_consumer_without_grant_sees_counts_only(client: TestClient, mesh: Mesh) -> None:
    outsider = _token(mesh, "gustav")  # films engineer: no grant on the restricted port
    assert client.get(f"/api/v1/ports/{PORT}/profile", headers=outsider).status_code == 200
    columns = _columns(client, outsider)
    assert all(not _valued(c) and c["withheld"] for c in columns.values())
    assert all(isinstance(c["nulls"], int) for c in columns.values())
    page = client.get(f"/products/{PRODUCT}", headers=outsider).text
    emails = _raw_values(mesh, "listener_email")
    assert not any(email in page for email in emails)
    # the history and the portal's charts withhold the same
    history = client.get(f"/api/v1/ports/{PORT}/profiles", headers=outsider).json()
    assert history and all(not _valued(c) for p in history for c in p["columns"])
    assert 'aria-label="Distribution of' not in page


def test_grant_holder_sees_granted_unmasked_columns_unless_row_filtered(client: TestClient, mesh: Mesh) -> None:
    service = mesh.discovery
    owner = service.principal("amelie")
    reader = service.principal("ivan")
    assert owner is not None and reader is not None
    filtered = service.principal("hannah")
    assert filtered is not None
    granted = service.request_access(reader, PORT, "profile test", columns=["episode_id", "listener_email"])
    service.approve(owner, granted.id)
    limited = service.request_access(filtered, PORT, "profile test, filtered")
    service.approve(owner, limited.id, row_filter="show_id = 'S0001'")
    try:
        columns = _columns(client, _token(mesh, "ivan"))
        assert _valued(columns["episode_id"])  # granted, unmasked
        assert not _valued(columns["show_id"])  # not granted
        assert not _valued(columns["listener_email"])  # granted but masked (and never profiled)
        columns = _columns(client, _token(mesh, "hannah"))
        # a summary of every row would show values of rows outside the filter
        assert not any(_valued(c) for c in columns.values())
    finally:
        for request in (granted, limited):
            service.revoke(owner, request.id, note="profile test over")


def test_product_page_draws_profile_charts_and_trends(client: TestClient, mesh: Mesh) -> None:
    page = client.get(f"/products/{PRODUCT}", headers=_token(mesh, OWNER)).text
    assert f'data-profile="{PORT}"' in page
    histograms = re.findall(r'aria-label="Distribution of (\w+)', page)
    tops = re.findall(r'aria-label="Most frequent values of (\w+)', page)
    assert "started_at" in histograms and tops
    assert not set(PII) & set(histograms + tops)
    assert 'aria-label="Checks passing per run' in page and 'aria-label="Rows of listening_events per build' in page
    assert "<title>" in page and 'id="anomalies"' in page
    # tooltips name the bin and its rows
    assert re.search(r"<title>[^<]+ to [^<]+: [\d,]+ rows</title>", page)


def test_anomalies_and_compliance_trend_over_rest(client: TestClient, mesh: Mesh) -> None:
    headers = _token(mesh, OWNER)
    assert client.get(f"/api/v1/products/{PRODUCT}/anomalies", headers=headers).json() == []
    mesh.governance.check()
    mesh.governance.check()
    trend = client.get("/api/v1/governance/trend", headers=headers)
    assert trend.status_code == 200 and len(trend.json()) >= 2
    for point in trend.json():
        assert 0.0 <= point["compliance"] <= 1.0 and point["total"] == sum(point["counts"].values())
    page = client.get("/governance", headers=headers).text
    assert 'aria-label="Compliance per policy evaluation' in page and "% compliant" in page
    assert client.get("/api/v1/ports/podcasts.nope.nope/profile", headers=headers).status_code == 404
