"""What every benchmark shares: where data lives, the machine and commit a figure came from, whole-process timing.

Figures are only worth quoting with their conditions: :func:`header` prints the machine (cores, load average),
the commit (and whether the tree had local changes), Python and DuckDB; :func:`footer` the load average after.
:func:`whole_process` runs one command several times as whole processes and reports median, min and max.

``MESHPLANE_BENCH_DATA`` moves the data cache (default ``bench/.data/``, git-ignored); the smoke tests point
it at a temporary folder so a CI run never reuses or leaves behind large files.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = Path(os.environ.get("MESHPLANE_BENCH_DATA") or HERE / ".data")
MESHPLANE = [sys.executable, "-m", "meshplane"]
"""The CLI as a whole process, from the sources this interpreter imports (PYTHONPATH wins over an install)."""


def commit() -> str:
    """HEAD's short hash, with ``+dirty`` when tracked files differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--", "src", "bench"]).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def header(title: str) -> float:
    """Print the conditions of this run; returns its start time for :func:`footer`."""
    import duckdb

    print(f"# {title}")
    print(
        f"# machine: {os.cpu_count()} cores, {platform.machine()}, Linux {platform.release()}; "
        f"load average before: {load()}"
    )
    print(
        f"# commit {commit()}; {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}",
        flush=True,
    )
    return time.perf_counter()


def footer(started: float) -> None:
    print(f"# load average after: {load()}; {time.perf_counter() - started:.0f} s in all", flush=True)


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds (user + system, children included) of several whole-process runs."""

    wall: tuple[float, ...]
    cpu: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def __str__(self) -> str:
        return (
            f"{self.median:6.3f} s (min {min(self.wall):.3f}, max {max(self.wall):.3f}; "
            f"CPU {statistics.median(self.cpu):.3f} s; n={len(self.wall)})"
        )


def whole_process(
    argv: Sequence[str],
    runs: int,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> Timing:
    """Run ``argv`` ``runs`` times; each a fresh process, output discarded."""
    walls: list[float] = []
    cpus: list[float] = []
    environment = {**os.environ, **(env or {})}
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(list(argv), cwd=cwd, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if check and done.returncode:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return Timing(tuple(walls), tuple(cpus))


def interleaved(contenders: Mapping[str, Sequence[str]], runs: int, *, cwd: Path | None = None,
                env: Mapping[str, str] | None = None) -> dict[str, Timing]:  # fmt: skip
    """Each contender once per round, ``runs`` rounds: noise hits every contender alike."""
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, argv in contenders.items():
            one = whole_process(argv, 1, cwd=cwd, env=env)
            walls[name] += one.wall
            cpus[name] += one.cpu
    return {name: Timing(tuple(walls[name]), tuple(cpus[name])) for name in contenders}


def duckdb_cli() -> str | None:
    """DuckDB's own command-line binary, when installed (the Python package does not ship one)."""
    return shutil.which("duckdb")
