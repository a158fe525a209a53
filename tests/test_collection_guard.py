"""The CI collection guard (tests/collection_guard.py) fails a run that silently collects fewer tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _suite(tmp_path: Path, floor: int) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    tests = tmp_path / "tests"
    for folder in ("unit", "other"):
        (tests / folder).mkdir(parents=True)
        (tests / folder / f"test_{folder}.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    (tests / "collected.floor").write_text(f"{floor}  # comment\n")
    return tmp_path


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.collection_guard", "-p", "no:cacheprovider", *args],
        cwd=root,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_complete_suite_passes(tmp_path: Path) -> None:
    root = _suite(tmp_path, floor=4)
    done = _run(root, "--collection-floor", "tests/collected.floor")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_a_folder_pytest_never_collects_fails_the_run(tmp_path: Path) -> None:
    root = _suite(tmp_path, floor=4)
    (root / "tests" / "build").mkdir()  # in pytest's default norecursedirs: silently skipped
    (root / "tests" / "build" / "test_plan.py").write_text("def test_plan():\n    pass\n")
    done = _run(root, "--collection-floor", "tests/collected.floor")
    assert done.returncode == 1
    assert "tests/build/ holds test files but none of its tests was collected" in done.stdout + done.stderr


def test_fewer_tests_than_the_floor_fail_the_run(tmp_path: Path) -> None:
    root = _suite(tmp_path, floor=5)
    done = _run(root, "--collection-floor", "tests/collected.floor")
    assert done.returncode == 1
    assert "4 tests collected, fewer than the floor of 5" in done.stdout + done.stderr


def test_deselected_tests_still_count_as_collected(tmp_path: Path) -> None:
    root = _suite(tmp_path, floor=4)
    done = _run(root, "--collection-floor", "tests/collected.floor", "-k", "one")
    assert done.returncode == 0, done.stdout + done.stderr


def test_without_the_option_the_guard_stays_silent(tmp_path: Path) -> None:
    root = _suite(tmp_path, floor=100)
    assert _run(root).returncode == 0


def test_the_committed_floor_is_a_number() -> None:
    text = (REPO / "tests" / "collected.floor").read_text().split("#", 1)[0]
    assert int(text) > 1000
