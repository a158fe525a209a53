"""Signing in to the portal through the company's identity provider (OpenID Connect, code + PKCE) in Chromium:
the portal's button, the provider's own page, back to the portal signed in as the mesh user the provider names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.test_access_story import _shot
from server.helpers import start_server, stop_server
from server.oidc_provider import Provider, oidc_provider

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sso_url(live_mesh: Path) -> Iterator[tuple[str, Provider]]:
    with oidc_provider("http://placeholder/") as provider:
        settings = {"MESHPLANE_OIDC_ISSUER": provider.url, "MESHPLANE_OIDC_CLIENT_ID": provider.client.client_id,
                    "MESHPLANE_OIDC_CLIENT_SECRET": provider.client.client_secret,
                    "MESHPLANE_OIDC_NAME": "Example ID"}  # fmt: skip
        saved = {k: os.environ.get(k) for k in settings}
        os.environ.update(settings)  # start_server passes its environment to the child server
        try:
            process, url = start_server(live_mesh, dev=False)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key)
                else:
                    os.environ[key] = value
        provider.client.redirect_uri = f"{url}/login/oidc/callback"  # registered once the port is known
        try:
            yield url, provider
        finally:
            stop_server(process)


def test_sign_in_through_the_identity_provider(browser: Any, sso_url: tuple[str, Provider]) -> None:
    url, provider = sso_url
    page = browser.new_context(viewport={"width": 1366, "height": 860}).new_page()
    page.goto(f"{url}/map")  # signed out: the sign-in page, which offers the provider
    page.wait_for_selector("#oidc-sign-in")
    assert "Sign in with Example ID" in page.inner_text("#oidc-sign-in")
    _shot(page, "login-sso")
    page.click("#oidc-sign-in")
    page.wait_for_url(f"{provider.url}/authorize?*")
    assert "code_challenge_method=S256" in page.url
    page.fill("#who", "raj")
    page.click("#provider-sign-in")
    page.wait_for_selector("#signed-in-user")
    assert page.inner_text("#signed-in-user") == "raj"
    assert page.url.startswith(f"{url}/map")  # back where the person was going
    page.context.close()
