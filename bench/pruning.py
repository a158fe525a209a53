"""Partition pruning through the governed gateway: one month of the media example's listening events, partitioned
by ``month(started_at)``, read with a predicate the gateway prunes by vs the same filter written so it cannot.

    .venv/bin/python bench/pruning.py [--scale 1] [--repeat 7]

The media example is copied to a temporary folder, its year of listens generated and ``podcasts.listening_events``
built (not timed). Then, in one process with a warm gateway, as its owner, each round runs side by side:

* ``count(*), sum(seconds_listened) ... WHERE started_at >= '2026-10-01'`` (pruned: October's files only), and
* the same rows selected by ``strftime(started_at, '%Y-%m') >= '2026-10'`` (no comparison with a literal on the
  column: every file is read).

It prints the files each query is allowed to read, the medians of both and the ratio, and checks the answers are
equal. The machine is shared: the header and footer print the load average; compare the ratio of one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, ROOT, footer, header

PORT = "podcasts.listening_events.listening_events"
PRUNED = f"SELECT count(*) AS n, sum(seconds_listened) AS s FROM {PORT} WHERE started_at >= '2026-10-01'"
UNPRUNED = (
    f"SELECT count(*) AS n, sum(seconds_listened) AS s FROM {PORT} WHERE strftime(started_at, '%Y-%m') >= '2026-10'"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = a million listening events over the year")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    started = header("Partition pruning: one month of the media example's listening events through the gateway")
    folder = Path(tempfile.mkdtemp(prefix="bench-pruning-", dir=DATA))
    root = folder / "media"
    shutil.copytree(ROOT / "examples/media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    subprocess.run(
        [sys.executable, "generate.py", "--scale", str(args.scale)], cwd=root, check=True, capture_output=True
    )

    from meshplane.workspace import Mesh

    with Mesh.open(root) as mesh:
        mesh.build(["podcasts.listening_events"], raise_on_failure=True)
        access = mesh.access
        owner = access.directory.principal("amelie")
        key = access.consumer_key("amelie")
        files = {
            name: len(access.gateway.plan(sql, access.policy.resolver(owner), consumer_key=key).files)
            for name, sql in (("pruned", PRUNED), ("unpruned", UNPRUNED))
        }
        times: dict[str, list[float]] = {"pruned": [], "unpruned": []}
        answers: dict[str, object] = {}
        for _ in range(args.repeat):
            for name, sql in (("pruned", PRUNED), ("unpruned", UNPRUNED)):
                began = time.perf_counter()
                answers[name] = access.query("amelie", sql).table.to_pylist()
                times[name].append(time.perf_counter() - began)
        access.close()
    assert answers["pruned"] == answers["unpruned"], answers
    for name in ("pruned", "unpruned"):
        values = times[name]
        print(f"{name:9} {files[name]:4} files: median {statistics.median(values):.3f} s "
              f"(min {min(values):.3f}, max {max(values):.3f}, n={len(values)})")  # fmt: skip
    ratio = statistics.median(times["pruned"]) / statistics.median(times["unpruned"])
    print(f"pruned / unpruned: {ratio:.2f} (same answer: {answers['pruned']})", flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    footer(started)


if __name__ == "__main__":
    main()
