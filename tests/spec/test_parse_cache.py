"""Where the parse cache lives: a large mesh keeps it even with no local catalog or warehouse.

A monorepo whose catalog is PostgreSQL (and whose warehouse is remote) has no ``.meshplane/`` folder of its
own; before, every ``plan`` there parsed all of its files again. The threshold is lowered here, so the
small base mesh counts as large.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from meshplane.spec import loader, yamlsafe
from meshplane.spec.loader import PARSE_CACHE, load_mesh


def _parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files parsed in this process from now on (cache hits are not parses)."""
    seen: list[Path] = []
    real = yamlsafe.parse_yaml_text

    def counting(path: Path, text: str, **kwargs: object) -> object:
        seen.append(path)
        return real(path, text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(yamlsafe, "parse_yaml_text", counting)
    return seen


def test_a_large_mesh_keeps_its_parse_cache_without_a_state_folder(
    base_mesh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    assert not (base_mesh / ".meshplane").exists()
    first = load_mesh(base_mesh)
    assert first.spec is not None and not first.errors
    assert (base_mesh / PARSE_CACHE).is_file()
    ignore = (base_mesh / ".meshplane" / ".gitignore").read_text()
    assert "*" in ignore.splitlines()  # the folder ignores itself: a repository without a .gitignore stays clean
    parsed = _parses(monkeypatch)
    again = load_mesh(base_mesh)
    assert again.spec is not None and not again.errors
    assert parsed == []  # every spec file came from the cache
    assert [str(p.address) for p in again.spec.products] == [str(p.address) for p in first.spec.products]


def test_the_state_folder_stays_out_of_git(base_mesh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    subprocess.run(["git", "init", "-q", str(base_mesh)], check=True)
    load_mesh(base_mesh)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=base_mesh, capture_output=True, text=True
    )
    assert status.returncode == 0 and ".meshplane" not in status.stdout and "mesh.yaml" in status.stdout


def test_a_small_mesh_creates_no_state_folder(base_mesh: Path) -> None:
    result = load_mesh(base_mesh)
    assert result.spec is not None and not result.errors
    assert not (base_mesh / ".meshplane").exists()


def test_a_changed_file_is_parsed_again_and_its_problem_located(
    base_mesh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "PARALLEL_PARSE_FILES", 3)
    load_mesh(base_mesh)
    domain = base_mesh / "domains" / "podcasts" / "domain.yaml"
    domain.write_text(domain.read_text().replace("owner: podcasts-team", "owner: [podcasts-team"))
    parsed = _parses(monkeypatch)
    result = load_mesh(base_mesh)
    assert parsed == [domain]
    assert [(p.location.path, p.code) for p in result.errors] == [(domain, "yaml-syntax")]
