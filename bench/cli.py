"""The CLI as a user meets it: whole `meshplane` processes on the media example, beside DuckDB on the same files.

    python bench/cli.py [--scale 0.1] [--runs 7]

The media example (examples/media) is copied under the data folder, its data generated at ``--scale`` and
built once; then, interleaved round by round so noise hits every contender alike, each command runs
``--runs`` times as a whole process (interpreter start, imports, mesh loading, catalog, the work, exit):

- ``meshplane --help``, ``check``, ``plan`` and a no-op ``build`` (everything up to date);
- ``meshplane query`` of a small result (a count of one port, as its owner: access decision, governance,
  the limited query process, the query log);
- the same SQL over the same snapshot's Parquet files with DuckDB: ``python -c "import duckdb; ..."`` and, when
  the ``duckdb`` binary is installed, ``duckdb -c``.

Targets (issue 12, item 6): query < 0.5 s; check and plan < 1 s; a no-op build < 1 s.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from _common import DATA, MESHPLANE, ROOT, Timing, duckdb_cli, footer, header, interleaved

QUERY = "SELECT count(*) FROM podcasts.catalog.shows"
PORT = ("podcasts", "catalog", "shows")
OWNER = "amelie"
TARGETS = {"check": 1.0, "plan": 1.0, "build (no-op)": 1.0, "query": 0.5}


def media_mesh(scale: float) -> Path:
    """examples/media under the data folder, generated at ``scale`` and built (reused when already built)."""
    root = DATA / f"media-cli-{scale:g}"
    ready = root / ".meshplane" / "bench-ready"
    if ready.is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / "media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    subprocess.run([sys.executable, "generate.py", "--scale", str(scale)], cwd=root, check=True, capture_output=True)
    built = subprocess.run([*MESHPLANE, "build"], cwd=root, capture_output=True, text=True)
    if built.returncode:
        raise SystemExit(f"building the media example failed:\n{built.stdout}\n{built.stderr}")
    ready.write_text("ok\n")
    return root


def port_files(root: Path) -> list[str]:
    """The Parquet files of the port's current snapshot, read the way the gateway reads them."""
    from meshplane.storage import TableId
    from meshplane.workspace import Mesh

    with Mesh.open(root) as mesh:
        info = mesh.platform.tables.snapshot(TableId.for_port(*PORT, 1))
        return [str(path) for path in info.data_files]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1, help="media data scale (1 = a million events)")
    parser.add_argument("--runs", type=int, default=7, help="whole-process runs of each command")
    args = parser.parse_args()
    started = header("meshplane CLI on the media example, whole processes, side by side with DuckDB")
    root = media_mesh(args.scale)
    files = port_files(root)
    plain = QUERY.replace("podcasts.catalog.shows", f"read_parquet({files!r})")
    contenders: dict[str, list[str]] = {
        "--help": [*MESHPLANE, "--help"],
        "check": [*MESHPLANE, "check"],
        "plan": [*MESHPLANE, "plan"],
        "build (no-op)": [*MESHPLANE, "build"],
        "query": [*MESHPLANE, "query", QUERY, "--as", OWNER],
        "python -c duckdb": [sys.executable, "-c", f"import duckdb; print(duckdb.sql({plain!r}).fetchall())"],
    }
    binary = duckdb_cli()
    if binary is not None:
        contenders["duckdb -c"] = [binary, "-c", plain]
    timings = interleaved(contenders, args.runs, cwd=root)
    duck = timings["python -c duckdb"].median
    print(f"\nmedia example at scale {args.scale:g}; {args.runs} interleaved rounds; query: {QUERY} (as {OWNER})")
    if binary is None:
        print("(no `duckdb` binary on PATH: DuckDB runs as `python -c` with the duckdb package)")
    print(f"{'command':<18}{'wall median (min, max; CPU)':<58}{'target':>8}{'/target':>9}{'/duckdb':>9}")
    for name, timing in timings.items():
        target = TARGETS.get(name)
        print(f"{name:<18}{timing!s:<58}{_target(target)}{_ratio(timing, target)}{timing.median / duck:>8.1f}x")
    footer(started)


def _target(target: float | None) -> str:
    return f"{'< ' + format(target, 'g') + ' s' if target else '':>8}"


def _ratio(timing: Timing, target: float | None) -> str:
    return f"{timing.median / target:>8.2f}x" if target else f"{'':>9}"


if __name__ == "__main__":
    main()
