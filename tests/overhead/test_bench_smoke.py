"""Every benchmark script runs, at tiny scale, so a benchmark can never silently rot.

The figures themselves are not asserted (performance lives in bench/, measured side by side); what is asserted
is that each script completes, prints its conditions (machine, load average, commit) and its result lines.
Data goes to a temporary ``MESHPLANE_BENCH_DATA`` shared by the scripts of one session (the TPC-H files are
generated once); dbt is installed into ``bench/.venv-dbt`` on first use, as a real run does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-data")


def run(script: str, *args: str, data: Path, timeout: float = 900) -> str:
    env = {**os.environ, "MESHPLANE_BENCH_DATA": str(data)}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert "# machine:" in done.stdout and "load average before" in done.stdout, done.stdout
    assert "# commit " in done.stdout and "# load average after" in done.stdout, done.stdout
    return done.stdout


def test_cli(data: Path) -> None:
    out = run("cli.py", "--scale", "0.01", "--runs", "1", data=data)
    for command in ("--help", "check", "plan", "build (no-op)", "query", "python -c duckdb"):
        assert f"\n{command} " in out, out


def test_build_with_dbt_side_by_side(data: Path) -> None:
    out = run("build.py", "--sf", "0.01", "--repeat", "1", "--tiny", "10", "--plan", "10", data=data, timeout=1500)
    assert "meshplane build" in out and "duckdb CREATE TABLE AS" in out, out
    assert "ms per product" in out and "dbt run, the same 10 models" in out, out
    assert "first run" in out and "dbt parse --no-partial-parse of the same 10 models" in out, out


def test_query(data: Path) -> None:
    out = run("query.py", "--sf", "0.01", "--repeat", "1", data=data)
    assert "\nQ10 " in out and "full facade" in out, out


def test_contracts(data: Path) -> None:
    out = run("contracts.py", "--sf", "0.01", "--repeat", "1", "--no-datacontract", data=data)
    assert "meshplane / hand-written: time" in out, out


def test_governance(data: Path) -> None:
    out = run("governance.py", "--sizes", "20", "--load-limit", "20", "--repeat", "1", data=data)
    assert "20" in out, out


def test_catalog_search_on_sqlite(data: Path) -> None:
    out = run("catalog_search.py", "--products", "50", "--rounds", "1", "--no-postgres", data=data)
    assert "sqlite" in out.lower(), out


@pytest.mark.postgres
def test_catalog_search_on_postgres(data: Path) -> None:
    out = run("catalog_search.py", "--products", "50", "--rounds", "1", data=data)
    assert "postgres" in out.lower(), out


@pytest.mark.postgres
def test_orgscale(data: Path) -> None:
    out = run("orgscale.py", "--sf", "0.01", "--repeat", "1", "--plan", "20", data=data)
    assert "S3 (loopback)" in out and "upload staged files" in out, out
    assert "PostgreSQL catalog" in out, out


@pytest.mark.load
def test_load(data: Path) -> None:
    run("load.py", "--products", "20", "--clients", "2", "--seconds", "2", "--workers", "1", data=data)


@pytest.mark.spark
def test_spark(data: Path) -> None:
    out = run("spark.py", "--sf", "0.01", "--driver-memory", "1g", data=data, timeout=1500)
    assert "spark" in out and "duckdb" in out, out


def test_notify(data: Path) -> None:
    out = run("notify.py", "--products", "4", "--repeat", "1", data=data)
    assert "refused-dead-webhook" in out, out


def test_wire(data: Path) -> None:
    out = run("wire.py", "--rows", "1000", "--repeat", "1", "--queries", "3", "--connections", "4", "--seconds", "2",
              data=data)  # fmt: skip
    assert "psycopg over the wire protocol" in out and "meshplane / PostgreSQL" in out, out
    assert "reflect the table (SQLAlchemy inspector), PostgreSQL" in out, out
    assert "concurrent connections" in out and ", 0 errors" in out, out


def test_increments(data: Path) -> None:
    out = run("increments.py", "--scale", "0.01", "--repeat", "1", "--builds", "3", data=data)
    assert "increment / full rebuild:" in out and "build, daily increment:" in out, out
    assert "3 daily builds, each followed by maintain" in out and "(target at most 1.2x)" in out, out
    assert "compaction (min_files 10, target 128 MB):" in out, out
    assert "plan,  last 3 builds:" in out, out
    assert "run record, CPU" in out and "metadata-log entries" in out and "profiles stored" in out, out


def test_pruning(data: Path) -> None:
    out = run("pruning.py", "--scale", "0.01", "--repeat", "1", data=data)
    assert "pruned / unpruned:" in out and "same answer" in out, out
    pruned = int(out.split("pruned ")[1].split("files")[0])
    unpruned = int(out.split("unpruned ")[1].split("files")[0])
    assert 0 < pruned < unpruned, out
