"""A live `meshplane serve` (uvicorn on loopback) over a small built media example, and Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.helpers import copy_media, start_server, stop_server
from server.oidc_provider import Provider, oidc_provider

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="session")
def live_mesh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_media(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="session")
def live_url(live_mesh: Path) -> Iterator[str]:
    process, url = start_server(live_mesh, dev=True)
    try:
        yield url
    finally:
        stop_server(process)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("install Debian's chromium (apt-get install -y chromium) for the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def sso_url(live_mesh: Path) -> Iterator[tuple[str, Provider]]:
    """A second server over the same mesh, without dev sign-in, with an OpenID Connect provider on loopback."""
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
