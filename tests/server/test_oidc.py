"""Portal sign-in through OpenID Connect (authorization code + PKCE) against a real Authlib provider on loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from meshplane.server import create_app
from meshplane.server.auth import SESSION_COOKIE
from meshplane.server.oidc import STATE_COOKIE, OidcSettings
from meshplane.workspace import Mesh
from server.conftest import TestClient
from server.helpers import CONSUMER
from server.oidc_provider import Provider, oidc_provider

CALLBACK = "http://testserver/login/oidc/callback"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with oidc_provider(CALLBACK) as running:
        yield running


@pytest.fixture
def sso(mesh: Mesh, provider: Provider) -> Iterator[TestClient]:
    settings = OidcSettings(provider.url, provider.client.client_id, provider.client.client_secret, name="Example ID")
    with TestClient(create_app(mesh, sso=settings), base_url="http://testserver") as client:
        yield client


def _to_provider(client: TestClient, next_url: str = "/map") -> tuple[str, dict[str, list[str]]]:
    start = client.get(f"/login/oidc?next={next_url}", follow_redirects=False)
    assert start.status_code == 303
    location = start.headers["location"]
    return location, parse_qs(urlsplit(location).query)


def _sign_in_at_provider(location: str, username: str) -> str:
    """What a person does at the provider: its page, their name; returns where the provider sends them back."""
    assert httpx.get(location).status_code == 200
    answer = httpx.post(location, data={"username": username}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = answer.headers["location"]
    assert back.startswith(CALLBACK)
    return back.removeprefix("http://testserver")


def test_sign_in_with_code_and_pkce(sso: TestClient, provider: Provider) -> None:
    login = sso.get("/login").text
    assert 'id="oidc-sign-in"' in login and "Sign in with Example ID" in login
    location, query = _to_provider(sso)
    assert location.startswith(f"{provider.url}/authorize?")
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert query["nonce"] and query["state"] and "openid" in query["scope"][0].split()
    back = _sign_in_at_provider(location, CONSUMER)
    assert provider.challenges[-1] == (query["code_challenge"][0], "S256")  # the provider holds us to PKCE
    done = sso.get(back, follow_redirects=False)
    assert done.status_code == 200 and 'url=/map"' in done.text
    cookie = done.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "samesite=strict" in cookie and "httponly" in cookie
    page = sso.get("/map").text
    assert f'id="signed-in-user">{CONSUMER}<' in page
    assert not provider.codes  # the code was redeemed once
    replay = sso.get(back, follow_redirects=False)  # the same answer again: no second session
    assert replay.status_code == 303 and "error=" in replay.headers["location"]
    tokens = sso.get("/tokens").text
    assert "portal sign-in (Example ID)" in tokens  # the session is an ordinary token the user can revoke
    sso.cookies.clear()


def test_state_must_come_back_to_the_browser_that_started(sso: TestClient) -> None:
    location, _ = _to_provider(sso)
    back = _sign_in_at_provider(location, CONSUMER)
    sso.cookies.clear()  # another browser (an attacker's link) has no state cookie
    answer = sso.get(back, follow_redirects=False)
    assert answer.status_code == 303 and "did%20not%20start%20in%20this%20browser" in answer.headers["location"]
    sso.cookies.set(STATE_COOKIE, "forged", path="/login/oidc")
    assert "error=" in sso.get(back, follow_redirects=False).headers["location"]
    assert sso.get("/", follow_redirects=False).status_code == 303  # still signed out
    sso.cookies.clear()


def test_an_id_token_for_another_sign_in_is_refused(sso: TestClient) -> None:
    """The ID token's nonce must be this sign-in's: swap the remembered nonce and the (valid, signed) token fails."""
    location, _ = _to_provider(sso)
    pending = json.loads(base64.urlsafe_b64decode(sso.cookies[STATE_COOKIE]))
    forged = base64.urlsafe_b64encode(json.dumps({**pending, "nonce": "another-sign-in"}).encode()).decode()
    sso.cookies.clear()
    sso.cookies.set(STATE_COOKIE, forged, path="/login/oidc")
    answer = sso.get(_sign_in_at_provider(location, CONSUMER), follow_redirects=False)
    assert answer.status_code == 303 and "nonce" in unquote(answer.headers["location"])
    assert sso.get("/", follow_redirects=False).status_code == 303
    sso.cookies.clear()


def test_a_person_the_mesh_does_not_know_is_refused(sso: TestClient) -> None:
    location, _ = _to_provider(sso)
    back = _sign_in_at_provider(location, "mallory")
    answer = sso.get(back, follow_redirects=False)
    assert (
        answer.status_code == 303 and "mallory%20is%20not%20a%20user%20of%20this%20mesh" in answer.headers["location"]
    )
    assert sso.get("/", follow_redirects=False).status_code == 303
    sso.cookies.clear()


def test_provider_refusal_and_unconfigured_server(sso: TestClient, client: TestClient) -> None:
    refused = sso.get("/login/oidc/callback?error=access_denied&state=x", follow_redirects=False)
    assert refused.status_code == 303 and "access_denied" in refused.headers["location"]
    assert client.get("/login/oidc", follow_redirects=False).status_code == 404  # the session app has no SSO
    assert 'id="oidc-sign-in"' not in client.get("/login").text


def test_settings_from_the_environment() -> None:
    assert OidcSettings.from_env({}) is None
    found = OidcSettings.from_env({"MESHPLANE_OIDC_ISSUER": "https://id.example/", "MESHPLANE_OIDC_CLIENT_ID": "mesh",
                                   "MESHPLANE_OIDC_USER_CLAIM": "email"})  # fmt: skip
    assert found == OidcSettings("https://id.example", "mesh", "", "email")


def test_groups_map_to_teams_until_the_next_sign_in(sso: TestClient, provider: Provider, mesh: Mesh) -> None:
    """examples/media maps the provider's group podcast-producers onto podcasts-team: a person mesh.yaml does not
    declare signs in through it, owns podcasts' products while the sign-in holds, and loses them with the group."""
    assert "nadia" not in mesh.access.directory.users
    provider.groups["nadia"] = ["podcast-producers", "some-unmapped-group"]
    try:
        location, _ = _to_provider(sso, "/inbox")
        done = sso.get(_sign_in_at_provider(location, "nadia"), follow_redirects=False)
        assert done.status_code == 200 and 'url=/inbox"' in done.text
        inbox = sso.get("/inbox")
        assert inbox.status_code == 200 and 'id="signed-in-user">nadia<' in inbox.text  # an owner's page
        principal = mesh.access.authority.principal("nadia")
        assert principal.teams == frozenset({"podcasts-team"})
        assert mesh.access.authority.owns(principal, "podcasts.listening_events")
        assert not mesh.access.authority.owns(principal, "royalties.creator_payouts")
        sso.cookies.clear()
        provider.groups["nadia"] = ["some-unmapped-group"]  # left the producers: the next sign-in says so
        location, _ = _to_provider(sso)
        refused = sso.get(_sign_in_at_provider(location, "nadia"), follow_redirects=False)
        assert refused.status_code == 303 and "nadia%20is%20not%20a%20user" in refused.headers["location"]
        assert mesh.access.authority.known("nadia") is None
        assert mesh.platform.catalog.signin_teams.teams("nadia") == frozenset()
    finally:
        provider.groups.pop("nadia", None)
        sso.cookies.clear()


def test_teams_from_a_sign_in_end_with_it(mesh: Mesh) -> None:
    """A recorded sign-in past its expiry gives no team; declared users keep their own teams beside mapped ones."""
    from datetime import UTC, datetime, timedelta

    store = mesh.platform.catalog.signin_teams
    store.record("omar", ["royalties-team"], ["royalty-analysts"], datetime.now(UTC) - timedelta(seconds=1))
    assert store.teams("omar") == frozenset()
    until = datetime.now(UTC) + timedelta(hours=1)
    teams = mesh.access.record_sign_in(CONSUMER, ["podcast-producers"], until)
    try:
        assert teams == frozenset({"podcasts-team"})
        assert mesh.access.directory.teams_of(CONSUMER) == frozenset({"royalties-team", "podcasts-team"})
    finally:
        mesh.access.record_sign_in(CONSUMER, [], until)
    assert mesh.access.directory.teams_of(CONSUMER) == frozenset({"royalties-team"})
