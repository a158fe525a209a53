"""Incremental builds at scale: the media example's daily listening increment vs its full rebuild, and what 100
builds with snapshot expiry leave in the warehouse.

    .venv/bin/python bench/increments.py [--scale 1] [--repeat 3] [--builds 100]

The media example (examples/media) is copied to a temporary folder; ``generate.py`` writes its year of listening
events (one Parquet file a day) up to some days before the end. Then, in one process (a warm engine, as a
scheduler runs it):

1. ``podcasts.listening_events`` is built once whole (warm-up, not timed). Each round delivers the next day's file
   (``generate.py --day``, not timed) and times, side by side, the plan and the append build of that day, then a
   ``--full-refresh`` rebuild of the whole year. The figure is the ratio of the medians.
2. ``--builds`` more daily builds, each followed by ``meshplane maintain`` (snapshot expiry on, as
   ``platform.history`` keeps it; compaction of the daily files as ``platform.compaction`` says). Afterwards
   the warehouse's files of that table (data, manifests, metadata) are compared with the bytes the current
   snapshot and the retained history read; plan and build times of the first and the last ten builds are
   printed side by side.

The machine is shared: the header and footer print the load average; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
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


def bench_history(scale: float, builds: int) -> None:
    from meshplane.types import Address
    from meshplane.workspace import Mesh

    root = _mesh(scale, days_left=builds)
    plans: list[float] = []
    times: list[float] = []
    compactions = 0
    with Mesh.open(root) as mesh:
        mesh.build([PRODUCT], raise_on_failure=True)
        history = mesh.graph.spec.config.platform.history
        compaction = mesh.graph.spec.config.platform.compaction
        for number in range(builds):
            _deliver(root, scale, LAST_DAY - timedelta(days=builds - 1 - number))
            plans.append(_timed(lambda: mesh.plan([PRODUCT])))
            times.append(_timed(lambda: mesh.build([PRODUCT], raise_on_failure=True)))
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
    print(f"build, last {window} builds:  {_stats(times[-window:])}", flush=True)
    shutil.rmtree(root.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = a million listening events over the year")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of increment vs full rebuild")
    parser.add_argument("--builds", type=int, default=100, help="daily builds with expiry (at most 300)")
    args = parser.parse_args()
    if not 1 <= args.builds <= 300 or args.repeat < 1:
        parser.error("--repeat must be at least 1 and --builds between 1 and 300")
    DATA.mkdir(parents=True, exist_ok=True)
    started = header("Incremental builds: the media example's daily listening increment")
    bench_increment(args.scale, args.repeat)
    bench_history(args.scale, args.builds)
    footer(started)


if __name__ == "__main__":
    main()
