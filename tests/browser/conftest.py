"""A live `meshplane serve` (uvicorn on loopback) over a small built media example, and Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.helpers import copy_media, start_server, stop_server

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
