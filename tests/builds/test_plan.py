"""Plans and incremental builds: no-op rebuilds, every staleness reason, cascades and selectors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from meshplane.builds import Reason, Status
from meshplane.workspace import Mesh

from .conftest import reasons
from .meshes import write_events


def plan(cli: Any, root: Path, *args: str) -> dict[str, list[str]]:
    result = cli("plan", *args, "--mesh", str(root), "--format", "json")
    assert result.code == 0, result.stderr
    return reasons(result.json())


def build(cli: Any, root: Path, *args: str) -> None:
    result = cli("build", *args, "--mesh", str(root))
    assert result.code == 0, result.stdout + result.stderr


def test_first_plan_lists_every_product_as_new_in_dependency_order(cli: Any, root: Path) -> None:
    planned = plan(cli, root)
    rebuilt = "upstream is rebuilt in this plan"
    assert planned == {
        "podcasts.listening_events": ["new"],
        "podcasts.shows": ["new"],
        "podcasts.listener_stats": ["new", rebuilt],
        "royalties.payouts": ["new", rebuilt],
    }
    order = list(planned)
    assert order.index("podcasts.listening_events") < order.index("podcasts.listener_stats")
    assert order.index("podcasts.shows") < order.index("royalties.payouts")


def test_second_build_is_a_no_op(cli: Any, root: Path) -> None:
    build(cli, root)
    result = cli("plan", "--mesh", str(root), "--format", "json")
    assert result.json() == []
    again = cli("build", "--mesh", str(root))
    assert again.code == 0
    assert "up to date: nothing to build" in again.stdout
    with Mesh.open(root) as mesh:
        assert len(mesh.runs()) == 4  # the second build recorded no run
        assert mesh.build().outcomes == ()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


EVENTS = "domains/podcasts/listening_events"
DOWNSTREAM = [Reason.UPSTREAM_REBUILDING.value]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda root: _edit(root / EVENTS / "listening_events.sql", "FROM listens", "FROM listens WHERE true"),
            {
                "podcasts.listening_events": ["code changed"],
                "podcasts.listener_stats": DOWNSTREAM,
                "royalties.payouts": DOWNSTREAM,
            },
            id="code-sql",
        ),
        pytest.param(
            lambda root: _edit(
                root / "domains/podcasts/listener_stats/listener_stats.py",
                "import time",
                "import time  # a comment changes the code",
            ),
            {"podcasts.listener_stats": ["code changed"]},
            id="code-python",
        ),
        pytest.param(
            lambda root: _edit(
                root / "domains/podcasts/shows/shows.odcs.yaml",
                "physicalType: table",
                "physicalType: table\n    description: Shows, one row each.",
            ),
            {"podcasts.shows": ["contract changed"], "royalties.payouts": DOWNSTREAM},
            id="contract",
        ),
        pytest.param(
            lambda root: _edit(
                root / "domains/royalties/payouts/product.odps.yaml", "version: 1.0.0\nstatus", "version: 1.1.0\nstatus"
            ),
            {"royalties.payouts": ["settings changed"]},
            id="settings-version",
        ),
        pytest.param(
            lambda root: write_events(root, 5, name="part-2.csv", start=1000),
            {
                "podcasts.listening_events": ["source data changed"],
                "podcasts.listener_stats": DOWNSTREAM,
                "royalties.payouts": DOWNSTREAM,
            },
            id="source-new-file",
        ),
        pytest.param(
            lambda root: os.utime(root / "data/shows.csv", ns=(1, 1)),
            {"podcasts.shows": ["source data changed"], "royalties.payouts": DOWNSTREAM},
            id="source-touched",
        ),
    ],
)
def test_each_change_makes_exactly_the_right_products_stale(
    cli: Any, root: Path, change: Any, expected: dict[str, list[str]]
) -> None:
    build(cli, root)
    change(root)
    assert plan(cli, root) == expected
    build(cli, root)
    assert plan(cli, root) == {}


def test_upstream_snapshot_changed_when_upstream_was_rebuilt_alone(cli: Any, root: Path) -> None:
    build(cli, root)
    build(cli, root, "podcasts.listening_events", "--full-refresh")
    assert plan(cli, root) == {
        "podcasts.listener_stats": ["upstream snapshot changed"],
        "royalties.payouts": ["upstream snapshot changed"],
    }


def test_full_refresh_forces_every_selected_product(cli: Any, root: Path) -> None:
    build(cli, root)
    assert plan(cli, root, "--full-refresh") == {
        "podcasts.listening_events": ["forced"],
        "podcasts.shows": ["forced"],
        "podcasts.listener_stats": ["upstream is rebuilt in this plan", "forced"],
        "royalties.payouts": ["upstream is rebuilt in this plan", "forced"],
    }
    assert plan(cli, root, "royalties.payouts", "--full-refresh") == {"royalties.payouts": ["forced"]}


def test_upstream_change_cascades_and_downstream_reads_the_new_snapshot(root: Path) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        before = mesh.read("royalties.payouts.payouts").to_pydict()
    write_events(root, 10, name="part-2.csv", start=5000)
    with Mesh.open(root) as mesh:
        result = mesh.build()
        assert [(str(o.address), o.status) for o in result.outcomes] == [
            ("podcasts.listening_events", Status.SUCCESS),
            ("podcasts.listener_stats", Status.SUCCESS),
            ("royalties.payouts", Status.SUCCESS),
        ]
        assert mesh.read("podcasts.listening_events.listening_events").num_rows == 50
        after = mesh.read("royalties.payouts.payouts").to_pydict()
        assert sum(after["amount"]) > sum(before["amount"])
        assert not mesh.plan()


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("podcasts", ["podcasts.listening_events", "podcasts.shows", "podcasts.listener_stats"]),
        ("royalties.payouts", ["royalties.payouts"]),
        ("+royalties.payouts", ["podcasts.listening_events", "podcasts.shows", "royalties.payouts"]),
        ("podcasts.listening_events+", ["podcasts.listening_events", "podcasts.listener_stats", "royalties.payouts"]),
        ("podcasts.shows+", ["podcasts.shows", "royalties.payouts"]),
    ],
)
def test_selectors_in_plan(cli: Any, root: Path, selector: str, expected: list[str]) -> None:
    assert sorted(plan(cli, root, selector)) == sorted(expected)


def test_selected_product_whose_upstream_was_never_built_says_how_to_build_it(root: Path) -> None:
    with Mesh.open(root) as mesh:
        result = mesh.build(["royalties.payouts"])
    [outcome] = result.outcomes
    assert outcome.status is Status.FAILED
    assert "never been published" in (outcome.error or "")
    assert "meshplane build +royalties.payouts" in (outcome.error or "")


def test_independent_products_build_in_parallel_and_the_text_plan_says_why(cli: Any, root: Path) -> None:
    text = cli("plan", "--mesh", str(root))
    assert "podcasts.listening_events" in text.stdout and "new" in text.stdout
    built = cli("build", "--mesh", str(root), "--jobs", "4")
    assert built.code == 0, built.stderr
    assert "4 built, 0 failed, 0 skipped" in built.stdout
    assert cli("plan", "--mesh", str(root)).stdout.strip() == "up to date: nothing to build"


@pytest.mark.parametrize("path", ["data/listens/*.csv", "data/./listens/*.csv", "data/listens/../listens/*.csv"])
def test_a_file_sources_state_names_its_files_relative_to_the_mesh(root: Path, path: str) -> None:
    """The state a fingerprint records is the same whichever way the path is written (a plain path takes a fast
    way to it), so a changed state always means changed files, never a rewrite of their names."""
    from meshplane.builds.plan import source_state

    write_events(root, 5, name="part-2.csv", start=100)
    source = root / "domains/podcasts/sources/listens.odcs.yaml"
    source.write_text(source.read_text().replace("path: data/listens/*.csv", f"path: {path}"))
    with Mesh.open(root) as mesh:
        [edge] = [e for edges in mesh.graph.edges.values() for e in edges
                  if e.source is not None and e.source.id == "podcasts.sources.listens"]  # fmt: skip
        assert edge.source is not None
        state = source_state(mesh.graph, edge.source)
    files = [root / "data/listens/part-1.csv", root / "data/listens/part-2.csv"]
    assert state.fingerprint == [(f"data/listens/{f.name}", f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    assert [Path(name).resolve() for name in state.files] == [f.resolve() for f in files]  # what a build reads
