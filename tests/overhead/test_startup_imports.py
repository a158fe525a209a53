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


# A build child (engines.limits) preloads these, then unpickles and runs DuckDBEngine's transform function.
_BUILD_CHILD = """
import json, sys
import pyarrow, duckdb, meshplane.engines.duckdb_isolated
from meshplane.engines.duckdb import _stage_in_child
from meshplane.engines.duckdb_sandbox import SandboxLimits
data, out = sys.argv[1:3]
duckdb.sql("select range as id, 'x' || range as name from range(5)").to_parquet(data)
_stage_in_child(SandboxLimits(), "select id, name from read_parquet('" + data + "')", (data,), {}, out, "snappy")
print("\\nIMPORTED " + json.dumps(sorted(sys.modules)))
"""


def test_a_build_child_runs_a_transform_without_sqlglot(tmp_path: Path) -> None:
    """Every parallel build starts its children anew: SQL is rewritten in the building process, so a child
    importing sqlglot (and meshplane.sql) paid ~70 ms of CPU for nothing."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILD_CHILD, str(tmp_path / "in.parquet"), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    line = next((x for x in done.stdout.splitlines() if x.startswith("IMPORTED ")), None)
    assert line is not None, done.stdout + done.stderr
    modules = set(json.loads(line.removeprefix("IMPORTED ")))
    assert list((tmp_path / "out").glob("*.parquet")), "the transform did not run"
    assert {m for m in modules if m.split(".")[0] == "sqlglot" or m.startswith("meshplane.sql")} == set()
