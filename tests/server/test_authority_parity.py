"""One access authority: every persona x route x port decision comes out the same through REST (and the
portal) as through the Python API, and the same as the authority itself says.

Decisions: read (a governed query), request (an access request), decide (see a request as its decider),
own (the portal's "You own this port"), mint a token for another user. The media mesh's personas cover an
analyst, an owner team engineer, the governance lead, an owner who is also a governance steward (the portal
once told her "You own" ports of other domains while queries denied her), the platform team and a member
of no owner team of the port.
"""

from __future__ import annotations

from typing import Any

import pytest

from meshplane.access.authority import Action
from meshplane.errors import AccessDenied, MeshError, UsageError
from meshplane.workspace import Mesh
from server.conftest import TestClient

PERSONAS = ("raj", "bilal", "gina", "amelie", "julia", "paolo", "chen")
TOKEN_TARGETS = ("raj", "bilal", "paolo")


@pytest.fixture(scope="module")
def persona_tokens(mesh: Mesh) -> dict[str, str]:
    writer = mesh.platform.catalog.writer
    return {user: writer.create_token(user, name="parity")[0] for user in PERSONAS}


def _auth(tokens: dict[str, str], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[user]}"}


def _ports(mesh: Mesh) -> list[str]:
    return sorted(str(address) for address in mesh.graph.ports)


def _python_read(mesh: Mesh, user: str, port: str) -> bool:
    try:
        with mesh.connect(as_user=user) as connection:
            connection.sql(f"SELECT count(*) FROM {port}")
    except AccessDenied:
        return False
    return True


def test_read_request_own_decide_agree(client: TestClient, mesh: Mesh, persona_tokens: dict[str, str]) -> None:
    authority = mesh.access.authority
    writer = mesh.platform.catalog.writer
    seen: dict[str, set[bool]] = {"read": set(), "request": set(), "own": set(), "decide": set()}
    for port in _ports(mesh):
        product = port.rsplit(".", 1)[0]
        # a pending request by someone outside the port's teams, to see who may decide it
        pending = writer.create_access_request("kofi", port, "parity check")
        for user in PERSONAS:
            who = authority.principal(user)
            auth = _auth(persona_tokens, user)
            # read
            response = client.post("/api/v1/query", headers=auth, json={"sql": f"SELECT count(*) FROM {port}"})
            assert response.status_code in (200, 403), response.text
            rest_read = response.status_code == 200
            assert rest_read == _python_read(mesh, user, port) == authority.may_read(who, port).allowed, (user, port)
            seen["read"].add(rest_read)
            # request (created, then withdrawn so the next surface starts from the same state)
            rest_request = _rest_request(client, auth, port)
            python_request = _python_request(mesh, user, port)
            assert rest_request == python_request == authority.check(who, Action.REQUEST, port).allowed, (user, port)
            seen["request"].add(rest_request)
            # own: the portal's product page says so exactly when the authority does
            page = client.get(f"/products/{product}", headers=auth)
            assert page.status_code == 200
            owns = "You own this port" in page.text
            assert owns == authority.owns(who, port), (user, port)
            seen["own"].add(owns)
            # decide: a decider sees the request through REST and through the Python API
            rest_decide = client.get(f"/api/v1/access-requests/{pending.id}", headers=auth).status_code == 200
            python_decide = any(v.id == pending.id and v.may_decide for v in mesh.access.list_requests(user))
            assert rest_decide == python_decide == authority.may_decide(who, port), (user, port)
            seen["decide"].add(rest_decide)
        writer.revoke_access(pending.id, "kofi", note="parity check done")
    assert all(outcomes == {True, False} for outcomes in seen.values()), seen  # each decision went both ways
    # the case that disagreed: a governance steward who owns podcasts owns nothing in films
    amelie = authority.principal("amelie")
    assert authority.owns(amelie, "podcasts.listening_events.listening_events")
    assert not authority.owns(amelie, "films.streams.streams")


def _rest_request(client: TestClient, auth: dict[str, str], port: str) -> bool:
    response = client.post("/api/v1/access-requests", headers=auth, json={"port": port, "purpose": "parity"})
    assert response.status_code in (201, 400, 403), response.text
    if response.status_code != 201:
        return False
    client.post(f"/api/v1/access-requests/{response.json()['id']}/withdraw", headers=auth)
    return True


def _python_request(mesh: Mesh, user: str, port: str) -> bool:
    try:
        request = mesh.access.request_access(user, port, "parity")
    except (AccessDenied, UsageError):
        return False
    mesh.access.revoke(user, request.id, "withdrawn")
    return True


@pytest.mark.parametrize("actor", PERSONAS)
def test_minting_tokens_agrees(client: TestClient, mesh: Mesh, persona_tokens: dict[str, str], actor: str) -> None:
    authority = mesh.access.authority
    for target in TOKEN_TARGETS:
        response = client.post("/api/v1/tokens", headers=_auth(persona_tokens, actor), json={"username": target})
        assert response.status_code in (201, 403), response.text
        try:
            mesh.access.create_token(target, actor=actor, name="parity")
            python: Any = True
        except MeshError:
            python = False
        expected = authority.may_mint_token(authority.principal(actor), target).allowed
        assert (response.status_code == 201) == python == expected, (actor, target)
        assert expected == (actor == target or actor == "paolo")  # only the user or the platform team
