"""The portal's notification inbox and GET /api/v1/notifications show each user what concerns them only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from meshplane.notifications import Notification
from meshplane.types import EventKind
from meshplane.workspace import Mesh
from server.helpers import CONSUMER, OWNER, bearer


def test_inbox_shows_what_concerns_the_user(client: TestClient, tokens: dict[str, str], mesh: Mesh) -> None:
    title = "royalties.creator_payouts.monthly_payouts: latency SLO breached (inbox test)"
    mesh.notifications.emit(Notification(EventKind.SLO_BREACHED, "royalties.creator_payouts.monthly_payouts", title,
                                         frozenset({"team:royalties-team"}), {"slo": "latency"}))  # fmt: skip
    api = client.get("/api/v1/notifications", headers=bearer(tokens, CONSUMER))
    assert api.status_code == 200
    assert any(n["title"] == title and n["kind"] == "slo_breached" for n in api.json())
    page = client.get("/notifications", headers=bearer(tokens, CONSUMER))
    assert page.status_code == 200 and title in page.text
    other = client.get("/api/v1/notifications", headers=bearer(tokens, OWNER))  # a podcasts engineer
    assert all(n["title"] != title for n in other.json())
    assert title not in client.get("/notifications", headers=bearer(tokens, OWNER)).text
    assert client.get("/api/v1/notifications").status_code == 401
