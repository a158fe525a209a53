"""Portal pages render for a signed-in user; sign-in by token or (dev mode) by name; forms refuse cross-site posts."""

from __future__ import annotations

import re

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
    page = client.get("/map").text
    assert f'id="signed-in-user">{CONSUMER}<' in page
    assert client.post("/logout").status_code == 403  # a form post with the session cookie needs the form token
    client.post("/logout", data={"csrf": _form_token(page)})
    dev = client.post("/login", data={"username": OWNER, "next": "//evil.example"}, follow_redirects=False)
    assert dev.headers["location"] == "/"  # no open redirect
    page = client.get("/").text
    assert f'id="signed-in-user">{OWNER}<' in page
    client.post("/logout", data={"csrf": _form_token(page)})
    client.cookies.clear()


def _form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, "the page's forms carry no form token"
    return found.group(1)


def test_cross_site_posts_are_refused(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.post("/sql", data={"sql": "SELECT 1"},
                           headers={**bearer(tokens, CONSUMER), "origin": "http://evil.example"})  # fmt: skip
    assert response.status_code == 403
    null_origin = client.post("/sql", data={"sql": "SELECT 1"}, headers={**bearer(tokens, CONSUMER), "origin": "null"})
    assert null_origin.status_code == 403  # sandboxed frames and data: URLs send Origin: null


def test_form_posts_with_the_session_cookie_need_the_form_token(client: TestClient, tokens: dict[str, str]) -> None:
    client.cookies.clear()
    client.post("/login", data={"username": CONSUMER, "token": tokens[CONSUMER]}, follow_redirects=False)
    try:
        page = client.get("/sql").text
        assert client.post("/sql", data={"sql": "SELECT 1"}).status_code == 403
        assert client.post("/sql", data={"sql": "SELECT 1", "csrf": "0" * 64}).status_code == 403
        sql = "SELECT count(*) FROM podcasts.catalog.shows"
        assert client.post("/sql", data={"sql": sql, "csrf": _form_token(page)}).status_code == 200
    finally:
        client.cookies.clear()


def test_agreements_show_on_both_products_pages(client: TestClient, tokens: dict[str, str]) -> None:
    """raj (royalties-team) sees the agreement his product holds on both ends of the edge."""
    for product in ("royalties.creator_payouts", "podcasts.listening_events"):
        html = client.get(f"/products/{product}", headers=bearer(tokens, CONSUMER)).text
        section = html.split('id="agreements"', 1)[1].split("</section>", 1)[0]
        assert "royalties.creator_payouts" in section and "podcasts.listening_events.listening_events" in section
        assert "approved" in section
