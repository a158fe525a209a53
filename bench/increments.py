"""Incremental builds at scale: the media example's daily listening increment vs its full rebuild, and what 100
builds with snapshot expiry leave in the warehouse.

    .venv/bin/python bench/increments.py [--scale 1] [--repeat 3] [--builds 100] [--only increment|history]

The media example (examples/media) is copied to a temporary folder; ``generate.py`` writes its year of listening
events (one Parquet file a day) up to some days before the end. Then, in one process (a warm engine, as a
scheduler runs it):

1. ``podcasts.listening_events`` is built once whole (warm-up, not timed). Each round delivers the next day's file
   (``generate.py --day``, not timed) and times, side by side, the plan and the append build of that day, then a
   ``--full-refresh`` rebuild of the whole year. The figure is the ratio of the medians.
2. ``--builds`` more daily builds, each followed by ``meshplane maintain`` (snapshot expiry on, as
   ``platform.history`` keeps it; compaction of the daily files as ``platform.compaction`` says). Afterwards
   the warehouse's files of that table (data, manifests, metadata) are compared with the bytes the current
   snapshot and the retained history read; plan and build times of the first, the middle and the last ten builds are
   printed side by side, then each phase of a build (wall and this process's CPU) and what a build reads that
   could grow with their number (data files, manifests, metadata JSON and its logs, stored profiles and runs):
   a cost that grows shows as a last/first ratio above 1.

The machine is shared: the header and footer print the load average; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from _common import DATA, ROOT, footer, header, load

PRODUCT = "podcasts.listening_events"
PORT = "podcasts.listening_events.listening_events"
LAST_DAY = date(2026, 10, 31)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _stats(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def _deliver(root: Path, scale: float, day: date) -> None:
    subprocess.run(
        [sys.executable, "generate.py", "--scale", str(scale), "--day", day.isoformat()],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _mesh(scale: float, days_left: int) -> Path:
    """A copy of the media example with its year of listens written up to ``days_left`` days before the end."""
    folder = Path(tempfile.mkdtemp(prefix="bench-increments-", dir=DATA if DATA.exists() else None))
    root = folder / "media"
    shutil.copytree(ROOT / "examples/media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    # Expiry on: keep the newest 10 snapshots whatever their age (the default also keeps a week of them).
    settings = root / "mesh.yaml"
    platform = "\nplatform: {"
    assert platform in settings.read_text(), "examples/media/mesh.yaml has no flow-style platform: update the bench"
    settings.write_text(
        settings.read_text().replace(platform, platform + "history: {keep_snapshots: 10, keep_days: 0}, ", 1)
    )
    through = LAST_DAY - timedelta(days=days_left)
    subprocess.run(
        [sys.executable, "generate.py", "--scale", str(scale), "--through", through.isoformat()],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root


def _sizes(root: Path) -> tuple[int, int, int]:
    """Bytes under the table's warehouse folder; bytes of the data files the retained snapshots read; how many
    snapshots are retained."""
    from meshplane.types import Address
    from meshplane.workspace import Mesh

    with Mesh.open(root) as mesh:
        current = mesh.builds.current(Address.parse(PORT))
        assert current is not None
        store = mesh.platform.tables
        retained = store.history(current.table_id)
        referenced = {str(path) for snapshot in retained for path in snapshot.data_files}
        location = store.table_location(current.table_id)
    on_disk = sum(f.stat().st_size for f in location.rglob("*") if f.is_file())
    live = sum(os.path.getsize(path.removeprefix("file://")) for path in referenced)
    return on_disk, live, len(retained)


def bench_increment(scale: float, repeat: int) -> None:
    from meshplane.workspace import Mesh

    root = _mesh(scale, days_left=repeat)
    appends: list[float] = []
    fulls: list[float] = []
    plans: list[float] = []
    work: dict[str, list[float]] = {"append": [], "full": []}  # the product's own run: transform, checks, publish
    rows: list[tuple[int, int]] = []
    with Mesh.open(root) as mesh:
        mesh.build([PRODUCT], raise_on_failure=True)  # warm-up: the whole year up to the first delivered day
        for round_ in range(repeat):
            _deliver(root, scale, LAST_DAY - timedelta(days=repeat - 1 - round_))
            plans.append(_timed(lambda: mesh.plan([PRODUCT])))
            started = time.perf_counter()
            appended = mesh.build([PRODUCT], raise_on_failure=True)
            appends.append(time.perf_counter() - started)
            started = time.perf_counter()
            full = mesh.build([PRODUCT], full_refresh=True, raise_on_failure=True)
            fulls.append(time.perf_counter() - started)
            [port] = appended.outcomes[0].ports
            assert port.run == "append", port
            work["append"].append(appended.outcomes[0].seconds)
            work["full"].append(full.outcomes[0].seconds)
            rows.append((port.rows, full.outcomes[0].ports[0].rows))
    print(f"rows: a day's increment {rows[-1][0]:,}, the whole table {rows[-1][1]:,} (scale {scale:g})")
    print(f"plan (append run):            {_stats(plans)}")
    print(f"build, daily increment:       {_stats(appends)}")
    print(f"build, --full-refresh (year): {_stats(fulls)}")
    print(f"  of which the product's run, increment: {_stats(work['append'])}")
    print(f"  of which the product's run, full:      {_stats(work['full'])}")
    ratio = statistics.median(appends) / statistics.median(fulls)
    own = statistics.median(work["append"]) / statistics.median(work["full"])
    print(f"increment / full rebuild: {ratio:.1%} whole build, {own:.1%} the product's run (transform, checks, "
          f"publish) (target at most 5%); load average now {load()}", flush=True)  # fmt: skip
    shutil.rmtree(root.parent, ignore_errors=True)


class _Phases:
    """Wall and CPU seconds (this process: DuckDB's threads, not the transform's child process) of each phase of a
    build, by wrapping the function that runs it. The bench's own instrument: the build records no phases."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.active: set[str] = set()

    def wrap(self, owner: Any, name: str, phase: str) -> None:
        original = getattr(owner, name)  # AttributeError if the build's code moved: update the bench

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if phase in self.active:  # nested (a catalog sync inside a catalog sync): counted once
                return original(*args, **kwargs)
            self.active.add(phase)
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.active.discard(phase)
                self.wall[phase] = self.wall.get(phase, 0.0) + time.perf_counter() - wall
                self.cpu[phase] = self.cpu.get(phase, 0.0) + time.process_time() - cpu

        setattr(owner, name, timed)

    def take(self) -> tuple[dict[str, float], dict[str, float]]:
        wall, cpu = self.wall, self.cpu
        self.wall, self.cpu = {}, {}
        return wall, cpu


PHASES = ("gates", "catalog sync", "transform", "checks", "commit", "run record", "retention")


def _instrument() -> _Phases:
    from meshplane.builds import execute
    from meshplane.storage.store import TableStore
    from meshplane.workspace import building, gates, lifecycle, mesh

    phases = _Phases()
    phases.wrap(gates, "build_gates", "gates")  # access and build-time policies
    phases.wrap(mesh.Mesh, "publish", "catalog sync")  # the specs into the catalog, before and after
    phases.wrap(execute.Builder, "_stage", "transform")  # waits for the sandboxed child that runs the SQL
    phases.wrap(execute.Builder, "_check_increment", "checks")  # the day's rows and the whole-table rules
    phases.wrap(TableStore, "publish_all", "commit")
    phases.wrap(building._RecordingEvents, "finished", "run record")  # run, check results, profile, anomalies
    phases.wrap(lifecycle.LifecycleService, "enforce_retention", "retention")
    return phases


def _counts(mesh: Any, root: Path) -> dict[str, float]:
    """What a build reads that could grow with the number of builds."""
    import json

    from meshplane.types import Address

    current = mesh.builds.current(Address.parse(PORT))
    assert current is not None
    store = mesh.platform.tables
    folder = store.table_location(current.table_id) / "metadata"
    newest = max(folder.glob("*.metadata.json"), key=lambda f: f.stat().st_mtime)
    metadata = json.loads(newest.read_text())
    table = store.catalog.load_table(current.table_id.identifier)
    snapshot = table.current_snapshot()
    return {
        "table rows": current.row_count,
        "data files": len(current.data_files),
        "manifests": len(snapshot.manifests(table.io)) if snapshot is not None else 0,
        "metadata JSON KB": newest.stat().st_size / 1e3,
        "snapshots in metadata": len(metadata.get("snapshots", [])),
        "snapshot-log entries": len(metadata.get("snapshot-log", [])),
        "metadata-log entries": len(metadata.get("metadata-log", [])),
        "metadata files": len(list(folder.glob("*.metadata.json"))),
        "profiles stored": len(mesh.platform.catalog.reader.profiles(PORT, limit=100_000)),
        "runs stored": len(mesh.platform.catalog.reader.runs(product=PRODUCT, limit=100_000)),
    }


def _first_last(name: str, values: list[float], window: int, unit: str = "") -> str:
    first, last = statistics.median(values[:window]), statistics.median(values[-window:])
    ratio = f"{last / first:.2f}x" if first else "-"
    digits = 3 if unit == "s" else 1 if max(first, last) < 100 else 0
    return f"  {name:<28} {first:>10,.{digits}f} {last:>10,.{digits}f} {unit:<2} {ratio:>6}"


def bench_history(scale: float, builds: int) -> None:
    from meshplane.types import Address
    from meshplane.workspace import Mesh

    root = _mesh(scale, days_left=builds)
    plans: list[float] = []
    times: list[float] = []
    cpus: list[float] = []
    walls: dict[str, list[float]] = {phase: [] for phase in PHASES}
    cpu_phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
    counts: dict[str, list[float]] = {}
    compactions = 0
    phases = _instrument()
    with Mesh.open(root) as mesh:
        mesh.build([PRODUCT], raise_on_failure=True)
        history = mesh.graph.spec.config.platform.history
        compaction = mesh.graph.spec.config.platform.compaction
        for number in range(builds):
            _deliver(root, scale, LAST_DAY - timedelta(days=builds - 1 - number))
            plans.append(_timed(lambda: mesh.plan([PRODUCT])))
            phases.take()
            cpu = time.process_time()
            times.append(_timed(lambda: mesh.build([PRODUCT], raise_on_failure=True)))
            cpus.append(time.process_time() - cpu)
            wall, spent = phases.take()
            for phase in PHASES:
                walls[phase].append(wall.get(phase, 0.0))
                cpu_phases[phase].append(spent.get(phase, 0.0))
            for name, value in _counts(mesh, root).items():
                counts.setdefault(name, []).append(value)
            report = mesh.maintain([PRODUCT], min_file_age=0)
            assert report.ok, report
            compactions += sum(1 for p in report.ports if p.compaction and p.compaction.snapshot_id is not None)
        current = mesh.builds.current(Address.parse(PORT))
        files = len(current.data_files) if current is not None else 0
    on_disk, live, retained = _sizes(root)
    window = min(10, builds)
    print(f"{builds} daily builds, each followed by maintain (keep_snapshots {history.keep_snapshots}, "
          f"keep_days {history.keep_days:g}): {retained} snapshots retained")  # fmt: skip
    print(f"compaction (min_files {compaction.min_files}, target {compaction.target_file_mb:g} MB): {compactions} "
          f"rewrite(s); the current snapshot reads {files} data file(s)")  # fmt: skip
    print(f"warehouse: {on_disk / 1e6:.2f} MB on disk; current snapshot + retained history read {live / 1e6:.2f} MB: "
          f"{on_disk / live:.2f}x (target at most 1.2x)")  # fmt: skip
    print(f"plan,  first {window} builds: {_stats(plans[:window])}")
    print(f"plan,  last {window} builds:  {_stats(plans[-window:])}")
    print(f"build, first {window} builds: {_stats(times[:window])}")
    print(f"build, last {window} builds:  {_stats(times[-window:])}")
    if builds >= 4 * window:  # past the ramp-up: the first builds hold fewer snapshots than the history keeps
        middle = slice(builds // 2 - window // 2, builds // 2 - window // 2 + window)
        print(f"plan,  builds {middle.start + 1}-{middle.stop} (history kept in full): {_stats(plans[middle])}")
        print(f"build, builds {middle.start + 1}-{middle.stop} (history kept in full): {_stats(times[middle])}")
    # Growth, phase by phase: medians of the first and the last builds (CPU of this process: the transform runs in
    # a child process, so its CPU is not here; its wall is).
    print(f"  {'median of first/last ' + str(window):<28} {'first':>10} {'last':>10} {'':<2} {'last/first':>6}")
    print(_first_last("build CPU (this process)", cpus, window, "s"))
    for phase in PHASES:
        print(_first_last(f"{phase}, wall", walls[phase], window, "s"))
        print(_first_last(f"{phase}, CPU", cpu_phases[phase], window, "s"))
    for name, values in counts.items():
        print(_first_last(name, values, window))
    sys.stdout.flush()
    shutil.rmtree(root.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = a million listening events over the year")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of increment vs full rebuild")
    parser.add_argument("--builds", type=int, default=100, help="daily builds with expiry (at most 300)")
    parser.add_argument("--only", choices=("increment", "history"), help="run one part: the increment vs the full "
                        "rebuild, or the builds with expiry")  # fmt: skip
    args = parser.parse_args()
    if not 1 <= args.builds <= 300 or args.repeat < 1:
        parser.error("--repeat must be at least 1 and --builds between 1 and 300")
    DATA.mkdir(parents=True, exist_ok=True)
    started = header("Incremental builds: the media example's daily listening increment")
    if args.only != "history":
        bench_increment(args.scale, args.repeat)
    if args.only != "increment":
        bench_history(args.scale, args.builds)
    footer(started)


if __name__ == "__main__":
    main()
