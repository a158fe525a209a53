"""Request bodies are limited in size before they are read, and sign-in is checked before a body is parsed."""

from __future__ import annotations

from collections.abc import Iterator

from meshplane.server.bodyguard import DEFAULT_MAX_BODY
from server.conftest import TestClient
from server.helpers import CONSUMER, bearer

BIG = b"{" + b" " * (DEFAULT_MAX_BODY + 10) + b"}"


def test_anonymous_bodies_are_never_parsed(client: TestClient) -> None:
    client.cookies.clear()
    broken = client.post("/api/v1/query", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 401  # not 422: the body was not parsed for an unknown caller
    assert broken.headers["www-authenticate"] == "Bearer"
    portal = client.post("/sql", data={"sql": "SELECT 1"}, follow_redirects=False)
    assert portal.status_code == 303 and portal.headers["location"].startswith("/login")
    assert client.post("/api/v1/query", content=BIG, headers={"content-type": "application/json"}).status_code == 413


def test_large_bodies_are_refused_before_reading(client: TestClient, tokens: dict[str, str]) -> None:
    auth = {**bearer(tokens, CONSUMER), "content-type": "application/json"}
    assert client.post("/api/v1/query", content=BIG, headers=auth).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the guard counts the bytes as they stream in
        yield b'{"sql": "'
        for _ in range(DEFAULT_MAX_BODY // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    assert client.post("/api/v1/query", content=chunks(), headers=auth).status_code == 413
    ok = client.post("/api/v1/query", json={"sql": "SELECT count(*) AS n FROM podcasts.catalog.shows"}, headers=auth)
    assert ok.status_code == 200


def test_public_routes_take_bodies_without_sign_in(client: TestClient, tokens: dict[str, str]) -> None:
    client.cookies.clear()
    login = client.post("/login", data={"username": CONSUMER, "token": "mpt_wrong"}, follow_redirects=False)
    assert login.status_code == 303 and "error=" in login.headers["location"]
