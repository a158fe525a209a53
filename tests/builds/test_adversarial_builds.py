"""The adversarial build suite: transforms (SQL and Python) that try to read, write or run what a build must
not. Every case is refused or stopped, no canary value comes out (published rows, run errors), nothing is
written outside staging, the upstream data and the mesh stay intact, and the platform process survives."""

from __future__ import annotations

import hashlib
import os
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshplane.builds import Status
from meshplane.types import Address
from meshplane.workspace import Mesh

from .adversarial_builds import CASES, BuildCase
from .edges_mesh import (
    ENV_CANARY,
    FILE_CANARY,
    NET_CANARY,
    PRIVATE,
    RAW_EMAIL,
    ROW_FILTER,
    UNGRANTED,
    US_ROW,
    set_transform,
    write_edges_mesh,
)

RESULT = Address.parse("sales.reader.result")
TIMEOUT_SECONDS = 8


@dataclass
class Target:
    root: Path
    values: dict[str, str]
    canaries: tuple[str, ...]
    fingerprints: dict[Path, str]


class _Canary(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(f"HTTP/1.0 200 OK\r\n\r\n{NET_CANARY}\n".encode())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    base = tmp_path_factory.mktemp("adversarial-builds")
    root = write_edges_mesh(base / "shop", timeout=TIMEOUT_SECONDS, cpu=TIMEOUT_SECONDS)
    secret = base / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(FILE_CANARY + "\n")
    escape = base / "escape"
    escape.mkdir()
    previous = os.environ.get("MESHPLANE_CANARY_ENV")
    os.environ["MESHPLANE_CANARY_ENV"] = ENV_CANARY
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Canary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Mesh.open(root) as mesh:
            assert mesh.build(["crm"]).ok
            request = mesh.access.request_agreement(
                "sam", "sales.reader", "crm.customers.customers", "Order totals", ["customer_id", "email", "country"]
            )
            mesh.access.approve("carla", request.id, ROW_FILTER)
            raw = mesh.builds.current(Address.parse("crm.customers.customers"))
            assert raw is not None
            raw_file = Path(raw.data_files[0])
            warehouse = mesh.platform.warehouse
        access_secret = root / ".meshplane" / "access.secret"
        values = {
            "{secret}": str(secret),
            "{warehouse}": str(warehouse),
            "{raw_file}": str(raw_file),
            "{catalog}": str(root / ".meshplane" / "catalog.db"),
            "{escape}": str(escape),
            "{port}": str(server.server_address[1]),
            "{mesh}": str(root),
            "{access_secret}": str(access_secret),
        }
        canaries = (RAW_EMAIL, UNGRANTED, US_ROW, PRIVATE, ENV_CANARY, FILE_CANARY, NET_CANARY,
                    access_secret.read_text().strip(), "root:x:0:0", "SQLite format 3")  # fmt: skip
        fingerprints = {path: _digest(path) for path in (raw_file, root / "mesh.yaml", access_secret)}
        yield Target(root, values, canaries, fingerprints)
    finally:
        server.shutdown()
        server.server_close()
        if previous is None:
            os.environ.pop("MESHPLANE_CANARY_ENV", None)
        else:
            os.environ["MESHPLANE_CANARY_ENV"] = previous


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _params() -> list[object]:
    return [pytest.param(case, id=case.id, marks=[pytest.mark.slow] if case.slow else []) for case in CASES]


def test_the_suite_covers_every_category_in_both_languages() -> None:
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)
    for language in ("sql", "py"):
        categories = {case.category for case in CASES if case.language == language}
        assert {
            "file, URL and warehouse reads",
            "extension and setting changes",
            "writes outside staging",
            "resource exhaustion",
            "environment and credential reads",
            "reading ports not granted",
        } <= categories


@pytest.mark.parametrize("case", _params())
def test_adversarial_build(case: BuildCase, target: Target) -> None:
    set_transform(target.root, _fill(case.code, target.values), case.language)
    with Mesh.open(target.root) as mesh:
        [outcome] = mesh.build(["sales.reader"], full_refresh=True).outcomes
        published = ""
        if outcome.status is Status.SUCCESS:
            published = repr(mesh.builds.read(RESULT).to_pylist())
        runs = repr([run.error for run in mesh.runs("sales.reader", limit=1)])
    if case.expect == "refused":
        assert outcome.status is Status.FAILED, f"{case.id} was not refused: {published[:300]}"
    # the warehouse's location is never told to a transform (one that names it may see it echoed)
    named = "{warehouse}" in case.code or "{raw_file}" in case.code
    canaries = target.canaries if named else (*target.canaries, target.values["{warehouse}"])
    for text in (outcome.error or "", published, runs):
        leaked = [canary for canary in canaries if canary in text]
        assert not leaked, f"{case.id} leaked {leaked}: {text[:400]}"
    if case.writes is not None:
        assert not Path(_fill(case.writes, target.values)).exists(), f"{case.id} wrote outside staging"
    for path, digest in target.fingerprints.items():
        assert _digest(path) == digest, f"{case.id} changed {path}"


def test_the_platform_still_builds_after_the_attacks(target: Target) -> None:
    set_transform(target.root, "SELECT customer_id AS x FROM customers\n", "sql")
    with Mesh.open(target.root) as mesh:
        [outcome] = mesh.build(["sales.reader"], full_refresh=True).outcomes
        assert outcome.status is Status.SUCCESS, outcome.error
        assert sorted(mesh.builds.read(RESULT).column("x").to_pylist()) == ["c1", "c3"]
