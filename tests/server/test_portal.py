"""Portal pages render for a signed-in user; sign-in by token or (dev mode) by name; forms refuse cross-site posts."""

from __future__ import annotations

from server.conftest import TestClient
from server.helpers import CONSUMER, OWNER, bearer

PAGES = ("/", "/search?q=listening", "/search?q=&kind=product", "/domains/podcasts",
         "/products/podcasts.listening_events", "/products/royalties.creator_payouts", "/map", "/sql",
         "/governance", "/requests")  # fmt: skip


def test_pages_render(client: TestClient, tokens: dict[str, str]) -> None:
    for page in PAGES:
        response = client.get(page, headers=bearer(tokens, CONSUMER))
        assert response.status_code == 200, page
        assert 'id="main"' in response.text
        assert page != "/map" or "<svg" in response.text
    product = client.get("/products/podcasts.listening_events", headers=bearer(tokens, CONSUMER)).text
    assert "listener_email" in product and "Request access" in product and "royalties.creator_payouts" in product
    assert client.get("/inbox", headers=bearer(tokens, OWNER)).status_code == 200


def test_sign_in(client: TestClient, tokens: dict[str, str]) -> None:
    client.cookies.clear()
    assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    wrong = client.post("/login", data={"username": OWNER, "token": tokens[CONSUMER]}, follow_redirects=False)
    assert "error=" in wrong.headers["location"]
    ok = client.post("/login", data={"username": CONSUMER, "token": tokens[CONSUMER], "next": "/map"},
                     follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303 and ok.headers["location"] == "/map"
    assert "samesite=strict" in ok.headers["set-cookie"].lower() and "httponly" in ok.headers["set-cookie"].lower()
    assert f'id="signed-in-user">{CONSUMER}<' in client.get("/map").text
    client.post("/logout")
    dev = client.post("/login", data={"username": OWNER, "next": "//evil.example"}, follow_redirects=False)
    assert dev.headers["location"] == "/"  # no open redirect
    assert f'id="signed-in-user">{OWNER}<' in client.get("/").text
    client.post("/logout")
    client.cookies.clear()


def test_cross_site_posts_are_refused(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.post("/sql", data={"sql": "SELECT 1"},
                           headers={**bearer(tokens, CONSUMER), "origin": "http://evil.example"})  # fmt: skip
    assert response.status_code == 403
