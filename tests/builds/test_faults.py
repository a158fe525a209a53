"""Faults of the setup get true messages: an unreachable or read-only catalog, dead runs, unknown names."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from meshplane.workspace import Mesh

from .meshes import write_mesh

CATALOG_ENV = "MESHPLANE_TEST_CATALOG_URL"


@pytest.fixture
def external(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test mesh with its catalog URL in an environment variable."""
    monkeypatch.setenv(CATALOG_ENV, f"sqlite:///{tmp_path / 'catalog.db'}")
    return write_mesh(tmp_path / "mesh", catalog_url_env=CATALOG_ENV)


def test_an_unreachable_catalog_is_a_setup_fault_not_a_bug(
    cli: Any, external: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CATALOG_ENV, "postgresql://postgres@127.0.0.1:1/meshplane")  # nothing listens on port 1
    result = cli("runs", "--mesh", str(external))
    assert result.code == 1
    assert "cannot reach the catalog database postgresql+psycopg://postgres@127.0.0.1:1/meshplane" in result.stderr
    assert "Connection refused" in result.stderr
    assert "bug" not in result.stderr and "internal error" not in result.stderr


@pytest.mark.postgres
def test_a_missing_catalog_database_is_named(cli: Any, external: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOG_ENV, "postgresql://postgres@127.0.0.1:5432/meshplane_i12_never_created")
    result = cli("runs", "--mesh", str(external))
    assert result.code == 1
    assert 'database "meshplane_i12_never_created" does not exist' in result.stderr
    assert "bug" not in result.stderr


def test_a_read_only_catalog_fails_the_query_at_once_without_sql(external: Path, tmp_path: Path) -> None:
    with Mesh.open(external) as mesh:
        assert mesh.build(["podcasts.shows"]).ok
    url = f"sqlite:///file:{tmp_path / 'catalog.db'}?mode=ro&uri=true"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from meshplane.cli.app import main; main(sys.argv[1:])",
         "query", "--mesh", str(external), "--as", "alice", "SELECT count(*) FROM podcasts.shows.shows"],
        env={**_env(), CATALOG_ENV: url},
        capture_output=True,
        text=True,
        timeout=120,  # it used to retry the query log write forever
    )  # fmt: skip
    assert done.returncode == 1
    assert "is read-only: meshplane cannot record this" in done.stderr
    assert "INSERT" not in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr) < 500


def test_dead_runs_are_marked_interrupted_by_the_next_command(cli: Any, root: Path) -> None:
    with Mesh.open(root) as mesh:
        mesh.platform.catalog.writer.start_run("podcasts.shows", engine="duckdb", run_id="deadbeef0001")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with sqlite3.connect(root / ".meshplane" / "catalog.db") as db:  # the run's process died (SIGKILL)
        db.execute("UPDATE mp_runs SET pid = ? WHERE run_id = 'deadbeef0001'", (int(gone.stdout),))
    listed = cli("runs", "--mesh", str(root), "--format", "json", "--as", "alice").json()  # podcasts' owner
    [run] = [r for r in listed if r["run_id"] == "deadbeef0001"]
    assert run["status"] == "interrupted"
    assert "process ended mid-run" in run["error"]


def test_runs_of_an_unknown_product_is_a_usage_error(cli: Any, root: Path) -> None:
    result = cli("runs", "UNKNOWN", "--mesh", str(root))
    assert result.code == 2
    assert "no product 'UNKNOWN' in this mesh (products: podcasts.listener_stats" in result.stderr


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


def _shows_published(root: Path) -> tuple[Path, Path]:
    from meshplane.types import Address

    with Mesh.open(root) as mesh:
        assert mesh.build(["podcasts.shows"]).ok
        snapshot = mesh.builds.current(Address.parse("podcasts.shows.shows"))
        assert snapshot is not None
        data = Path(snapshot.data_files[0])
    metadata = sorted((root / ".meshplane/warehouse/podcasts/shows__shows__v1/metadata").glob("*.metadata.json"))
    return metadata[-1], data


def test_a_missing_data_file_is_named_not_reported_as_an_access_decision(cli: Any, root: Path) -> None:
    _, data = _shows_published(root)
    data.unlink()
    result = cli("query", "--mesh", str(root), "--as", "alice", "SELECT count(*) FROM podcasts.shows.shows")
    assert result.code == 1
    assert f"data file {data} of podcasts.shows.shows" in result.stderr and "is missing" in result.stderr
    assert "grant" not in result.stderr


def test_a_corrupted_metadata_file_is_named(cli: Any, root: Path) -> None:
    metadata, _ = _shows_published(root)
    metadata.write_text("garbage{")
    result = cli("build", "--mesh", str(root), "--full-refresh", "podcasts.shows")
    assert result.code == 1
    assert f"its Iceberg metadata file file://{metadata} is corrupted (Invalid JSON" in result.stderr
    assert "internal error" not in result.stderr
