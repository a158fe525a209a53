"""A pytest plugin for CI: the suite fails when tests silently stop being collected.

pytest ignores folders named ``build`` (and ``dist``, ``venv``, ``.*``), and a typo in a file name or a
module-level skip drops tests without a word. With ``--collection-floor FILE`` (as ``.ci/pytest.sh`` runs
the suite) the run stops before any test when

- a folder under the test paths holds test files but none of its tests was collected, or
- fewer tests were collected than the number committed in FILE (raise it as tests are added).

Load it with ``-p tests.collection_guard``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_TEST_FILES = ("test_*.py", "*_test.py")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--collection-floor",
        metavar="FILE",
        default=None,
        help="fail when a test folder collects nothing or fewer tests than the number in FILE are collected",
    )


_deselected: list[pytest.Item] = []


def pytest_deselected(items: list[pytest.Item]) -> None:
    _deselected.extend(items)


def test_folders(roots: list[Path]) -> set[Path]:
    """Every folder under ``roots`` holding a test file, hidden and virtualenv folders included on purpose."""
    found: set[Path] = set()
    for root in roots:
        for pattern in _TEST_FILES:
            found.update(path.parent.resolve() for path in root.rglob(pattern) if path.is_file())
    return found


def collection_problems(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    floor_file = config.getoption("--collection-floor")
    if not floor_file:
        return []
    rootdir = Path(config.rootpath)
    roots = [rootdir / p for p in config.getini("testpaths")] or [rootdir]
    collected = {Path(item.path).parent.resolve() for item in items}
    problems = [
        f"{folder.relative_to(rootdir)}/ holds test files but none of its tests was collected "
        "(pytest skips folders named build, dist, venv and .*; rename it or fix the file names)"
        for folder in sorted(test_folders(roots) - collected)
    ]
    text = Path(rootdir / floor_file).read_text().split("#", 1)[0].strip()
    floor = int(text)
    if len(items) < floor:
        problems.append(
            f"{len(items)} tests collected, fewer than the floor of {floor} in {floor_file}: "
            "a test file or folder stopped being collected (lower the floor only when tests were removed on purpose)"
        )
    return problems


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    problems = collection_problems(session.config, [*session.items, *_deselected])
    if problems:
        message = "collection guard: " + "; ".join(problems)
        pytest.exit(message, returncode=pytest.ExitCode.TESTS_FAILED)
