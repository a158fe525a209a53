"""CLI start-up stays lean: each command imports only what it runs (a deterministic guard, not a timing).

A whole `meshplane` process pays for every module it imports before it does any work: pyiceberg (with
pyarrow.dataset and pandas) costs about a second, Alembic, sqlglot and CEL's REPL a tenth or more each.
`bench/cli.py` measures the time; these tests pin the imports, so a new top-level import on the path of
`--help`, `check`, `plan` or `query` fails here instead of silently slowing every command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Run the CLI in-process after its own imports, then report which of the watched modules got loaded.
_PROBE = """
import json, runpy, sys
sys.argv = ["meshplane", *sys.argv[1:]]
try:
    runpy.run_module("meshplane", run_name="__main__")
except SystemExit as done:
    code = done.code
print("\\nIMPORTED " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

HEAVY = ("pyiceberg", "pandas", "alembic", "prompt_toolkit", "fastapi", "uvicorn", "pyspark")


def imported(args: list[str], cwd: Path, *, codes: tuple[int | None, ...] = (0, None)) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MESHPLANE_CATALOG_URL", "MESHPLANE_REQUIRE_CATALOG_URL")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("IMPORTED ")), None)
    assert line is not None, done.stdout + done.stderr
    report = json.loads(line.removeprefix("IMPORTED "))
    assert report["code"] in codes, done.stdout + done.stderr
    return {name.split(".")[0] for name in report["modules"]} | set(report["modules"])


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The media example without its data: enough to check and plan (everything is new)."""
    root = tmp_path_factory.mktemp("startup") / "media"
    shutil.copytree(ROOT / "examples" / "media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    return root


def test_help_imports_no_workspace_and_no_engine(media: Path) -> None:
    loaded = imported(["--help"], media)
    unwanted = {"meshplane.workspace", "sqlglot", "duckdb", "pyarrow", "sqlalchemy", *HEAVY}
    assert loaded & unwanted == set()


def test_plan_imports_no_sql_parser_engine_or_policy_engine(media: Path) -> None:
    loaded = imported(["plan"], media)
    assert "meshplane.workspace" in loaded  # the probe ran the command
    unwanted = {"sqlglot", "duckdb", "pyarrow", "meshplane.governance", "cel", "jsonschema", *HEAVY}
    assert loaded & unwanted == set()


def test_check_imports_no_table_format_or_migration_tool(media: Path) -> None:
    """The media mesh names catalog_url_env; unset, the catalog is the default file, which check never creates.
    Without a catalog, no agreement was approved: royalties.creator_payouts's read of podcasts' restricted
    listening events is reported (exit 1), from the specs alone."""
    loaded = imported(["check"], media, codes=(1,))
    assert "meshplane.governance" in loaded  # check evaluates the policies
    assert loaded & {"pyarrow", "duckdb", "jsonschema", "sqlalchemy", "sqlglot", *HEAVY} == set()
    assert not (media / ".meshplane" / "catalog.db").exists()


@pytest.mark.slow
def test_query_and_plan_of_a_built_mesh_import_no_table_format(media: Path, tmp_path: Path) -> None:
    """A query resolves snapshots from the catalog database: no pyiceberg, no Alembic in the process; plan
    and a no-op build read the snapshot summaries with sqlite3, without SQLAlchemy."""
    built = tmp_path / "media"
    shutil.copytree(media, built)
    subprocess.run([sys.executable, "generate.py", "--scale", "0.01"], cwd=built, check=True, capture_output=True)
    agree = ("from meshplane.workspace import Mesh\nfrom meshplane.workspace.edges import agree_declared_as_owners\n"
             "with Mesh.open('.') as m:\n    agree_declared_as_owners(m.graph, m.access)\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", agree], cwd=built, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "meshplane", "build"], cwd=built, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = imported(["query", "SELECT count(*) FROM podcasts.catalog.shows", "--as", "amelie"], built)
    assert "meshplane.access" in loaded  # the probe ran the query
    assert loaded & set(HEAVY) == set()
    loaded = imported(["check"], built)  # with a catalog: published contracts are compared, none compiled
    assert "meshplane.catalog" in loaded and loaded & {"pyarrow", "duckdb", *HEAVY} == set()
    # With a catalog, check asks the access decision about every input port (the agreements): the decision
    # parses no SQL, so neither the SQL parser nor the gateway loads.
    assert "meshplane.access.policy" in loaded  # the probe asked the decision
    assert loaded & {"sqlglot", "meshplane.access.gateway", "meshplane.sql"} == set()
    for command in (["plan"], ["build"]):
        loaded = imported(command, built)
        assert "meshplane.storage" in loaded  # the probe read the snapshot summaries
        assert loaded & {"sqlalchemy", "sqlglot", "pyarrow", "duckdb", *HEAVY} == set(), command


def test_a_build_child_is_ready_with_its_imports_and_runs_a_file_transform_without_sqlglot_or_pyarrow(
    tmp_path: Path,
) -> None:
    """A parallel build prestarts its children while its gates run: they import what a transform needs before
    they say they are ready (the first transform on each paid ~0.15 s for it on the build's critical path).
    SQL is rewritten in the building process, so a child never imports sqlglot (~70 ms of CPU), and a transform
    that reads files never loads pyarrow and numpy (~0.14 s of each child's start)."""
    import duckdb

    from meshplane.engines.duckdb import _build_pool, _stage_in_child
    from meshplane.engines.duckdb_sandbox import SandboxLimits

    pool = _build_pool(SandboxLimits(memory_limit="1GB", threads=1, timeout_seconds=61.0, max_rows=0))
    modules = "sorted(__import__('sys').modules)"  # eval: unpickling the call itself imports nothing
    ready = set(pool.call("probe", eval, modules))
    assert {"duckdb", "meshplane.engines.duckdb", "meshplane.engines.build_databases"} <= ready
    data = tmp_path / "in.parquet"
    duckdb.sql("select range as id, 'x' || range as name from range(5)").to_parquet(str(data))
    sql = f"select id, name from read_parquet('{data}')"
    limits = SandboxLimits(threads=1, max_rows=0)
    out = pool.call("probe", _stage_in_child, limits, sql, (str(data),), {}, str(tmp_path / "out"), "snappy",
                    None, str(tmp_path / "scratch"))  # fmt: skip
    assert Path(out).is_file(), "the transform did not run"
    after = set(pool.call("probe", eval, modules))
    unwanted = {m for m in after if m.split(".")[0] in ("sqlglot", "pyarrow", "numpy") or m.startswith("meshplane.sql")}
    assert unwanted == set()
