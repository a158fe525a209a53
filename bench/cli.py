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

``--compare SRC`` also runs every meshplane command with ``PYTHONPATH=SRC`` (another checkout's ``src``, e.g.
``git archive <commit> src examples | tar -x -C /tmp/before``) on its own copy of the example, built by that
code, in the same interleaved rounds: a before/after ratio that the machine's load cannot fake.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from _common import DATA, ROOT, Timing, duckdb_cli, footer, header, whole_process

# The CLI's entry point as a whole process, the same for any checkout (older ones have no __main__ module).
MESHPLANE = [sys.executable, "-c", "import sys; from meshplane.cli.app import main; sys.argv[0] = 'meshplane'; main()"]

QUERY = "SELECT count(*) FROM podcasts.catalog.shows"
PORT = ("podcasts", "catalog", "shows")
OWNER = "amelie"
TARGETS = {"check": 1.0, "plan": 1.0, "build (no-op)": 1.0, "query": 0.5}


_AGREE = """\
try:
    from meshplane.workspace.edges import agree_declared_as_owners
except ImportError:
    raise SystemExit(0)
from meshplane.workspace import Mesh
with Mesh.open(".") as mesh:
    agree_declared_as_owners(mesh.graph, mesh.access)
"""


def media_mesh(scale: float, src: Path | None = None) -> Path:
    """examples/media under the data folder, generated at ``scale`` and built (reused when already built) by
    this checkout, or by the one whose ``src`` folder is given."""
    root = DATA / (f"media-cli-{scale:g}" if src is None else f"media-cli-{scale:g}-{_label(src)}")
    ready = root / ".meshplane" / "bench-ready"
    if ready.is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    example = (ROOT if src is None else src.parent) / "examples" / "media"
    shutil.copytree(example, root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    subprocess.run([sys.executable, "generate.py", "--scale", str(scale)], cwd=root, check=True, capture_output=True)
    # the agreements the example declares (a checkout from before agreements has none to make)
    subprocess.run([sys.executable, "-c", _AGREE], cwd=root, check=True, capture_output=True, env=_env(src))
    built = subprocess.run([*MESHPLANE, "build"], cwd=root, capture_output=True, text=True, env=_env(src))
    if built.returncode:
        raise SystemExit(f"building the media example failed:\n{built.stdout}\n{built.stderr}")
    ready.write_text("ok\n")
    return root


def _label(src: Path) -> str:
    return "-".join(src.resolve().parts[-3:-1])


def _env(src: Path | None) -> dict[str, str]:
    if src is None:
        return dict(os.environ)
    return {**os.environ, "PYTHONPATH": str(src.resolve())}


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
    parser.add_argument("--compare", type=Path, help="another checkout's src folder, run side by side")
    args = parser.parse_args()
    started = header("meshplane CLI on the media example, whole processes, side by side with DuckDB")
    root = media_mesh(args.scale)
    files = port_files(root)
    plain = QUERY.replace("podcasts.catalog.shows", f"read_parquet({files!r})")
    commands: dict[str, list[str]] = {
        "--help": ["--help"],
        "check": ["check"],
        "plan": ["plan"],
        "build (no-op)": ["build"],
        "query": ["query", QUERY, "--as", OWNER],
    }
    contenders: dict[str, tuple[list[str], Path, dict[str, str]]] = {
        name: ([*MESHPLANE, *argv], root, _env(None)) for name, argv in commands.items()
    }
    if args.compare is not None:
        # As `make install` leaves this checkout: with PYTHONDONTWRITEBYTECODE set (this environment), a checkout
        # without bytecode compiles every module in every command it runs.
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(args.compare)], check=True)
        other = media_mesh(args.scale, args.compare)
        for name, argv in commands.items():
            contenders[f"{name} @compare"] = ([*MESHPLANE, *argv], other, _env(args.compare))
    duck = [sys.executable, "-c", f"import duckdb; print(duckdb.sql({plain!r}).fetchall())"]
    contenders["python -c duckdb"] = (duck, root, _env(None))
    binary = duckdb_cli()
    if binary is not None:
        contenders["duckdb -c"] = ([binary, "-c", plain], root, _env(None))
    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.runs):  # interleaved: noise hits every contender alike
        for name, (argv, cwd, env) in contenders.items():
            one = whole_process(argv, 1, cwd=cwd, env=env)
            walls[name] += one.wall
            cpus[name] += one.cpu
    timings = {name: Timing(tuple(walls[name]), tuple(cpus[name])) for name in contenders}
    base = timings["python -c duckdb"].median
    print(f"\nmedia example at scale {args.scale:g}; {args.runs} interleaved rounds; query: {QUERY} (as {OWNER})")
    if args.compare is not None:
        print(f"@compare: PYTHONPATH={args.compare.resolve()} on its own copy of the example, built by that code")
    if binary is None:
        print("(no `duckdb` binary on PATH: DuckDB runs as `python -c` with the duckdb package)")
    print(f"{'command':<22}{'wall median (min, max; CPU)':<58}{'target':>8}{'/target':>9}{'/duckdb':>9}")
    for name, timing in timings.items():
        target = TARGETS.get(name)
        print(f"{name:<22}{timing!s:<58}{_target(target)}{_ratio(timing, target)}{timing.median / base:>8.1f}x")
    if args.compare is not None:
        print("\nthis checkout / @compare (wall medians; CPU medians)")
        for name in commands:
            now, then = timings[name], timings[f"{name} @compare"]
            cpu = statistics.median(now.cpu) / statistics.median(then.cpu)
            print(f"  {name:<18}{now.median / then.median:6.2f}x wall  {cpu:6.2f}x CPU")
    footer(started)


def _target(target: float | None) -> str:
    return f"{'< ' + format(target, 'g') + ' s' if target else '':>8}"


def _ratio(timing: Timing, target: float | None) -> str:
    return f"{timing.median / target:>8.2f}x" if target else f"{'':>9}"


if __name__ == "__main__":
    main()
