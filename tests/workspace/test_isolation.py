"""Isolation: a spec error in one domain blocks only that domain and the products reading it (issue #14).

Runs the pharma example's CLI the way CI would: a typo in the clinical portfolio must not block
`build rnd_trials`, and a broken upstream blocks its readers, not unrelated domains.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import meshplane
from meshplane.errors import SpecError
from meshplane.workspace import Mesh

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pharma"
MESHPLANE = Path(sys.executable).parent / "meshplane"
PORTFOLIO = "domains/clinical_portfolio/trial_portfolio/product.odps.yaml"


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MESHPLANE), *args, "-m", str(root)], capture_output=True, text=True, timeout=600)


@pytest.fixture
def pharma(tmp_path: Path) -> Path:
    root = tmp_path / "pharma"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    subprocess.run(
        [sys.executable, str(root / "generate.py"), "--scale", "0.05", "--out", str(root / "data")],
        check=True,
        capture_output=True,
    )
    return root


def _typo(root: Path) -> None:
    path = root / PORTFOLIO
    path.write_text(path.read_text("utf-8").replace("inputPorts:", "inputPort:", 1), "utf-8")


def test_a_typo_in_one_domain_blocks_only_that_domain(pharma: Path) -> None:
    _typo(pharma)
    # The strict API still refuses the whole mesh (every problem at once, as `meshplane check` reports).
    with pytest.raises(SpecError):
        meshplane.open_mesh(pharma)

    built = _cli(pharma, "build", "rnd_trials")
    assert built.returncode == 0, built.stderr
    assert "rnd_trials.harmonised_trials" in built.stdout and "1 built" in built.stdout

    # The blocked domain itself: refused with its located error, nothing built.
    refused = _cli(pharma, "build", "clinical_portfolio")
    assert refused.returncode == 1
    assert f"{PORTFOLIO}:" in refused.stderr and "Traceback" not in refused.stderr

    # The whole mesh: everything else builds; the run names what was blocked and fails.
    everything = _cli(pharma, "build")
    assert everything.returncode == 1
    assert "acquired_helix.harmonised_trials" in everything.stdout
    assert "acquired_nova.harmonised_trials" in everything.stdout
    assert "blocked by spec errors (the rest ran): clinical_portfolio" in everything.stderr
    with Mesh.open(pharma, isolate=True) as mesh:
        assert set(mesh.blocked) == {"clinical_portfolio"}
        assert not mesh.plan()  # the healthy rest is up to date


def test_a_broken_upstream_blocks_its_readers_not_unrelated_domains(pharma: Path) -> None:
    trials = pharma / "domains/rnd_trials/harmonised_trials/product.odps.yaml"
    trials.write_text(trials.read_text("utf-8").replace("outputPorts:", "outputPort:", 1), "utf-8")
    with Mesh.open(pharma, isolate=True) as mesh:
        assert set(mesh.blocked) == {"rnd_trials", "clinical_portfolio.trial_portfolio"}
        [why] = mesh.blocked["clinical_portfolio.trial_portfolio"]
        assert "reads rnd_trials.harmonised_trials" in why.message and "domain rnd_trials" in why.message
        assert {str(a) for a in mesh.graph.products} == {
            "acquired_helix.harmonised_trials",
            "acquired_nova.harmonised_trials",
        }
        with pytest.raises(SpecError, match="blocked: it reads"):
            mesh.plan(["clinical_portfolio.trial_portfolio"])
    planned = _cli(pharma, "plan", "acquired_nova")
    assert planned.returncode == 0, planned.stderr
    assert "acquired_nova.harmonised_trials" in planned.stdout


def test_a_mesh_wide_error_still_blocks_everything(pharma: Path) -> None:
    (pharma / "glossary.yaml").write_text("terms: [{name: 1}]\n", "utf-8")
    with pytest.raises(SpecError):
        Mesh.open(pharma, isolate=True)
    assert _cli(pharma, "plan", "rnd_trials").returncode == 1
