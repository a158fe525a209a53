"""SIGKILL at several points of a build, and two builds at once: the catalog and tables stay consistent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshplane.builds import Status
from meshplane.catalog import RunStatus
from meshplane.storage import TableId
from meshplane.types import Address
from meshplane.workspace import Mesh

from .meshes import EVENTS, write_events

WORKER = Path(__file__).with_name("build_worker.py")
EVENTS_PORT = Address.parse("podcasts.listening_events.listening_events")
STATS_PORT = Address.parse("podcasts.listener_stats.listener_stats")

pytestmark = pytest.mark.slow


def start(root: Path, point: str, *selectors: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(root), point, *selectors],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", line + (process.stderr.read() if process.stderr else "")


def assert_consistent(root: Path) -> None:
    """A separate pyiceberg client loads every table, and every snapshot's data files exist."""
    from pyiceberg.catalog.sql import SqlCatalog

    with Mesh.open(root) as mesh:
        url, warehouse = mesh.platform.catalog_url, mesh.platform.warehouse
    catalog = SqlCatalog("meshplane", uri=url, warehouse=warehouse.as_uri())
    try:
        for namespace in catalog.list_namespaces():
            for identifier in catalog.list_tables(namespace):
                table = catalog.load_table(identifier)
                for snapshot in table.snapshots():
                    for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
                        path = Path(task.file.file_path.removeprefix("file://"))
                        assert path.is_file(), f"{identifier} snapshot {snapshot.snapshot_id} lost {path}"
    finally:
        catalog.engine.dispose()


def current_id(root: Path, port: Address) -> int | None:
    with Mesh.open(root) as mesh:
        snapshot = mesh.builds.current(port)
        return None if snapshot is None else snapshot.snapshot_id


def latest_run(mesh: Mesh, product: str) -> RunStatus:
    return mesh.runs(product)[0].status


@pytest.mark.parametrize(
    ("point", "committed"),
    [
        ("staged", False),
        ("before_commit", False),
        ("mid_metadata", False),
        ("after_commit", True),
        ("before_run_record", True),
    ],
)
def test_sigkill_during_a_build_leaves_old_or_new_snapshot_and_the_next_build_recovers(
    root: Path, point: str, committed: bool
) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
    before = current_id(root, EVENTS_PORT)
    write_events(root, 5, name="part-2.csv", start=1000)

    process = start(root, point, "podcasts.listening_events")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == -9, stderr

    assert_consistent(root)
    after = current_id(root, EVENTS_PORT)
    with Mesh.open(root) as mesh:
        assert (after != before) is committed
        rows = mesh.read(str(EVENTS_PORT)).num_rows
        assert rows == (EVENTS + 5 if committed else EVENTS)
        dead = mesh.runs("podcasts.listening_events")[0]
        assert dead.status is RunStatus.INTERRUPTED  # marked by the first command that opened the catalog
        # The fingerprint was committed with the data: a landed commit is not rebuilt, its consumers are.
        planned = {str(i.address) for i in mesh.plan().items}
        expected = {"podcasts.listener_stats", "royalties.payouts"} | (
            set() if committed else {"podcasts.listening_events"}
        )
        assert planned == expected
        result = mesh.build()
        assert result.ok, [o.error for o in result.outcomes]
        statuses = {r.run_id: r.status for r in mesh.runs()}
        assert statuses[dead.run_id] is RunStatus.INTERRUPTED
        assert not mesh.plan()
        assert mesh.read(str(EVENTS_PORT)).num_rows == EVENTS + 5
    assert_consistent(root)


def test_sigkill_inside_a_python_transform(root: Path) -> None:
    """A Python transform runs in a confined child process (no platform environment reaches it): when that process
    is killed, the build fails with a clear message, the platform process survives, nothing is published."""
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
    before = current_id(root, STATS_PORT)
    stats = root / "domains/podcasts/listener_stats/listener_stats.py"
    original = stats.read_text()
    stats.write_text(
        original.replace(
            "def transform(listening_events: pa.Table) -> pa.Table:\n",
            "def transform(listening_events: pa.Table) -> pa.Table:\n    os.kill(os.getpid(), signal.SIGKILL)\n",
        )
    )
    with Mesh.open(root) as mesh:
        result = mesh.build(["podcasts.listener_stats"])
        [outcome] = result.outcomes
        assert outcome.status is Status.FAILED
        assert "listener_stats" in (outcome.error or "")
        assert mesh.runs("podcasts.listener_stats")[0].status is RunStatus.FAILED
    assert_consistent(root)
    assert current_id(root, STATS_PORT) == before
    stats.write_text(original + "# changed\n")
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        assert not mesh.plan()
    assert current_id(root, STATS_PORT) != before


def test_two_concurrent_builds_of_the_same_product_wait_and_do_not_rebuild(root: Path) -> None:
    with Mesh.open(root) as mesh:
        assert mesh.build().ok
        history = len(mesh.platform.tables.history(TableId.for_port("podcasts", "listener_stats", "listener_stats", 1)))
    stats = root / "domains/podcasts/listener_stats/listener_stats.py"
    stats.write_text(stats.read_text() + "# changed\n")
    # The first holds the product's build lock while its transform sleeps; the second plans meanwhile.
    first = start(root, "none", "podcasts.listener_stats", env={"MESHPLANE_TEST_SLEEP": "8"})
    wait_ready(first)
    second = start(root, "none", "podcasts.listener_stats")
    wait_ready(second)
    assert first.poll() is None, "the first build finished before the second planned: machine too slow"
    out_first, err_first = first.communicate(timeout=120)
    out_second, err_second = second.communicate(timeout=120)
    assert first.returncode == 0, err_first
    assert second.returncode == 0, err_second
    assert "podcasts.listener_stats success" in out_first
    # The second says it waited and that the other build did the work; it records no 0-row success.
    assert "podcasts.listener_stats up_to_date another build published it while this one waited" in out_second
    assert_consistent(root)
    with Mesh.open(root) as mesh:
        tables = mesh.platform.tables
        snapshots = tables.history(TableId.for_port("podcasts", "listener_stats", "listener_stats", 1))
        assert len(snapshots) == history + 1  # the second build found it built and did not build it again
        runs = {r.status: r for r in mesh.runs("podcasts.listener_stats")[:2]}
        assert set(runs) == {RunStatus.SUCCESS, RunStatus.SKIPPED}
        assert runs[RunStatus.SUCCESS].snapshot_id == str(snapshots[-1].snapshot_id)
        waited = runs[RunStatus.SKIPPED]
        assert waited.snapshot_id is None and not waited.rows_written
        assert "waited" in (waited.error or "")
        assert not mesh.plan()


def test_a_build_that_cannot_get_the_lock_fails_with_a_clear_message(root: Path) -> None:
    with Mesh.open(root) as mesh:
        plan = mesh.plan(["podcasts.shows"])
        other = Mesh.open(root)  # another holder: its own lock file descriptor, as another process would have
        try:
            with other.platform.tables.lock(TableId("podcasts", "shows__build")):
                mesh.publish()
                result = mesh.builds.build(plan, lock_timeout=0.2, access=mesh.access)
        finally:
            other.close()
        [outcome] = result.outcomes
        assert outcome.status is Status.FAILED
        assert "podcasts.shows__build is being built by another process" in (outcome.error or "")
        assert "waited 0.2 s" in (outcome.error or "")
        assert mesh.builds.current(Address.parse("podcasts.shows.shows")) is None
        assert mesh.build(["podcasts.shows"]).ok
