"""API tokens: only the user or the platform team creates, lists and revokes a user's tokens; tokens expire
(90 days by default, ``platform.token_days`` in mesh.yaml); a revoked token stops working at once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from meshplane.cli.app import _register_commands
from meshplane.cli.common import app as cli_app
from meshplane.errors import AccessDenied
from meshplane.workspace import Mesh
from server.conftest import TestClient
from server.helpers import copy_media


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_expire_by_default(mesh: Mesh) -> None:
    _, info = mesh.access.create_token("raj", name="default expiry")
    assert info.expires_at is not None
    assert abs(info.expires_at - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)
    assert mesh.platform.catalog.reader.verify_token("mpt_x") is None
    token, _ = mesh.access.create_token("raj", expires_at=datetime.now(UTC) + timedelta(seconds=1))
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert mesh.platform.catalog.reader.verify_token(token, at=later) is None  # expired


def test_token_days_is_configurable(tmp_path: Path) -> None:
    root = copy_media(tmp_path, build=False)
    mesh_yaml = root / "mesh.yaml"
    text = mesh_yaml.read_text()
    mesh_yaml.write_text(text.replace("platform: {engine: duckdb,", "platform: {token_days: 7, engine: duckdb,", 1))
    with Mesh.open(root) as mesh:
        _, info = mesh.access.create_token("raj")
    assert info.expires_at is not None
    assert abs(info.expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=5)


def test_list_and_revoke_through_the_api(client: TestClient, mesh: Mesh) -> None:
    raj, _ = mesh.access.create_token("raj", name="api list")
    bilal, _ = mesh.access.create_token("bilal", name="api list")
    paolo, _ = mesh.access.create_token("paolo", name="api list")
    spare, spare_info = mesh.access.create_token("raj", name="to revoke")
    listed = client.get("/api/v1/tokens", headers=_auth(raj)).json()
    assert spare_info.id in {t["id"] for t in listed} and {t["username"] for t in listed} == {"raj"}
    assert client.get("/api/v1/tokens?username=raj", headers=_auth(bilal)).status_code == 403
    assert client.get("/api/v1/tokens?username=raj", headers=_auth(paolo)).status_code == 200
    assert client.post(f"/api/v1/tokens/{spare_info.id}/revoke", headers=_auth(bilal)).status_code == 403
    assert client.get("/api/v1/me", headers=_auth(spare)).status_code == 200
    revoked = client.post(f"/api/v1/tokens/{spare_info.id}/revoke", headers=_auth(raj))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get("/api/v1/me", headers=_auth(spare)).status_code == 401  # at once, despite the cache
    assert client.get("/api/v1/me", headers=_auth(raj)).status_code == 200


def test_list_and_revoke_from_the_cli(mesh: Mesh) -> None:
    _register_commands()
    token, info = mesh.access.create_token("chen", name="cli")
    runner = CliRunner()
    listed = runner.invoke(cli_app, ["token", "list", "--mesh", str(mesh.root), "--as", "chen"])
    assert listed.exit_code == 0 and info.id in listed.output and "active" in listed.output
    other = runner.invoke(cli_app, ["token", "revoke", info.id, "--mesh", str(mesh.root), "--as", "raj"])
    assert other.exit_code != 0 and "may not" in str(other.exception)
    done = runner.invoke(cli_app, ["token", "revoke", info.id, "--mesh", str(mesh.root), "--as", "chen"])
    assert done.exit_code == 0, done.output
    assert mesh.platform.catalog.reader.verify_token(token) is None
    with pytest.raises(AccessDenied):
        mesh.access.tokens("raj", "chen")


def test_portal_lists_creates_and_revokes_own_tokens(client: TestClient, mesh: Mesh) -> None:
    session, _ = mesh.access.create_token("julia", name="portal session")
    _, other = mesh.access.create_token("raj", name="not julia's")
    client.cookies.clear()
    client.post("/login", data={"username": "julia", "token": session}, follow_redirects=False)
    try:
        page = client.get("/tokens").text
        assert "portal session" in page and other.id not in page
        form = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
        assert form is not None
        created = client.post("/tokens", data={"name": "notebook", "csrf": form.group(1)})
        assert created.status_code == 200
        new = re.search(r'id="new-token">New token (\w+) .*?<code>(mpt_[^<]+)</code>', created.text)
        assert new is not None and mesh.platform.catalog.reader.verify_token(new.group(2)) == "julia"
        refused = client.post(f"/tokens/{other.id}/revoke", data={"csrf": form.group(1)}, follow_redirects=False)
        assert refused.status_code == 403  # raj's token is not julia's to revoke
        done = client.post(f"/tokens/{new.group(1)}/revoke", data={"csrf": form.group(1)}, follow_redirects=False)
        assert done.status_code == 303
        assert mesh.platform.catalog.reader.verify_token(new.group(2)) is None
    finally:
        client.cookies.clear()
