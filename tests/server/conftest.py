"""A TestClient app over a small built copy of the media example, with one token per persona."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette nags about httpx vs httpx2; the pinned httpx works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from meshplane.server import create_app
from meshplane.workspace import Mesh
from server.helpers import CONSUMER, GOVERNANCE, OWNER, copy_media


@pytest.fixture(scope="session")
def media_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_media(tmp_path_factory.mktemp("server"))


@pytest.fixture(scope="session")
def mesh(media_path: Path) -> Iterator[Mesh]:
    with Mesh.open(media_path) as opened:
        yield opened


@pytest.fixture(scope="session")
def client(mesh: Mesh) -> Iterator[TestClient]:
    with TestClient(create_app(mesh, dev_mode=True), base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def tokens(mesh: Mesh) -> dict[str, str]:
    writer = mesh.platform.catalog.writer
    return {user: writer.create_token(user, name="tests")[0] for user in (CONSUMER, OWNER, GOVERNANCE)}
