"""Signing in to the portal through the company's identity provider (OpenID Connect, code + PKCE) in Chromium:
the portal's button, the provider's own page, back to the portal signed in as the mesh user the provider names."""

from __future__ import annotations

from typing import Any

import pytest

from browser.test_access_story import _shot
from server.oidc_provider import Provider

pytestmark = pytest.mark.browser


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
