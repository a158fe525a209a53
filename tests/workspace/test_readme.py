"""The README and docs work as printed: the Python API example runs on examples/media, links resolve inside
the repository, and reading a port that was never published is a clear error."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshplane.errors import BuildError, NotFound
from meshplane.workspace import Mesh

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted(REPO.glob("examples/*/README.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves_inside_the_repository(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(REPO), f"{page.name} links outside the repository: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"


def _python_block(text: str) -> str:
    section = text[text.index("## Python API") :]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_readme_python_api_example_runs_as_printed(tmp_path: Path) -> None:
    shutil.copytree(REPO / "examples" / "media", tmp_path / "examples" / "media",
                    ignore=shutil.ignore_patterns(".meshplane", "data"))  # fmt: skip
    subprocess.run([sys.executable, "examples/media/generate.py"], cwd=tmp_path, check=True, capture_output=True)
    (tmp_path / "example.py").write_text(_python_block((REPO / "README.md").read_text()))
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[1].startswith("build succeeded: ")
    assert int(lines[-1]) > 0  # raj's rows, filtered to his grant


def test_a_failed_build_is_impossible_to_miss_and_an_unpublished_port_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "media"
    shutil.copytree(REPO / "examples" / "media", root, ignore=shutil.ignore_patterns(".meshplane", "data"))
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.catalog"])  # no source data generated: the build fails
        assert not result and not result.ok
        assert str(result).startswith("build FAILED: 1 failed")
        assert "podcasts.catalog: " in str(result)
        with pytest.raises(BuildError, match=r"podcasts\.catalog: "):
            result.raise_for_failures()
        with pytest.raises(BuildError):
            mesh.build(["podcasts.catalog"], raise_on_failure=True)
        with pytest.raises(NotFound) as caught:
            mesh.read("podcasts.catalog.shows")
        message = str(caught.value)
        assert message.startswith("podcasts.catalog.shows has not been published yet: build it first")
        assert "meshplane build +podcasts.catalog" in message and "its last build failed" in message
