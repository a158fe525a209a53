"""Fixtures of the build suite: a small mesh in a temporary folder, and the CLI run in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from meshplane.workspace import Mesh

from .meshes import write_mesh


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_mesh(tmp_path / "mesh")


@pytest.fixture
def mesh(root: Path) -> Iterator[Mesh]:
    with Mesh.open(root) as opened:
        yield opened


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``meshplane ARGS`` in this process (fast) and return its exit code and output."""
    from meshplane.cli.app import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as done:
            code = int(done.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def reasons(plan_json: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {item["product"]: item["reasons"] for item in plan_json}
