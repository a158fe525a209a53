"""A built mesh copied to another folder: refused until ``meshplane maintain --relocate`` rewrites its Iceberg
metadata, then read there by an independent pyiceberg process, DuckDB's ``iceberg_scan`` and the gateway, with
the original folder gone (nothing may still point at it) and time travel to the older snapshot intact."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from meshplane.cli.app import _register_commands
from meshplane.cli.common import app as cli_app
from meshplane.errors import StorageError
from meshplane.spec.scaffold import new_domain, new_mesh, new_product
from meshplane.workspace import Mesh

TABLE = "podcasts.episodes__episodes__v0"
PORT = "podcasts.episodes.episodes"

INDEPENDENT = """
import json, sys
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("meshplane", uri=sys.argv[1], warehouse=sys.argv[2])
table = catalog.load_table(sys.argv[3])
tasks = list(table.scan().plan_files())
first = table.metadata.snapshots[0].snapshot_id
print(json.dumps({
    "metadata": table.metadata_location,
    "location": table.location(),
    "files": [t.file.file_path for t in tasks],
    "labels": sorted(table.scan().to_arrow().column("label").to_pylist()),
    "first": sorted(table.scan(snapshot_id=first).to_arrow().column("label").to_pylist()),
    "log": [e.metadata_file for e in table.metadata.metadata_log],
}))
"""


def _extension(name: str) -> str:
    package = resources.files(f"duckdb_extension_{name}")
    return str(next(Path(str(package)).glob(f"extensions/*/{name}.duckdb_extension")))


def _independent(root: Path) -> dict[str, Any]:
    with Mesh.open(root) as mesh:
        store = mesh.platform.tables
        url, warehouse = store.catalog_url, store.location
    done = subprocess.run(
        [sys.executable, "-c", INDEPENDENT, url, warehouse, TABLE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The mesh built twice (two snapshots) in ``first/acme``, then copied to ``second/acme``."""
    base = tmp_path_factory.mktemp("relocate")
    original = base / "first" / "acme"
    new_mesh(original)
    new_domain(original, "podcasts")
    new_product(original, "podcasts", "episodes")
    sql = original / "domains/podcasts/episodes/episodes.sql"
    sql.write_text("SELECT 'r-1' AS record_id, 'first' AS label\n", "utf-8")
    with Mesh.open(original) as mesh:
        assert mesh.build(jobs=1).ok
    sql.write_text("SELECT 'r-1' AS record_id, 'first' AS label\nUNION ALL SELECT 'r-2', 'second'\n", "utf-8")
    with Mesh.open(original) as mesh:
        assert mesh.build(jobs=1).ok
    copy = base / "second" / "acme"
    shutil.copytree(original, copy)
    return original, copy


def test_a_copied_mesh_is_refused_then_relocated_and_read_there(moved: tuple[Path, Path]) -> None:
    original, copy = moved
    # Before relocation the copy would read the original's files: refused, naming the command.
    with Mesh.open(copy) as mesh, pytest.raises(StorageError) as refused:
        mesh.read(PORT)
    assert "meshplane maintain --relocate" in str(refused.value)
    assert str(original) in str(refused.value)

    _register_commands()
    done = CliRunner().invoke(cli_app, ["maintain", "--relocate", "--mesh", str(copy), "--format", "json"])
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.output)
    assert row["table"] == TABLE and row["snapshots"] == "2"
    assert row["from"].startswith(original.as_uri()) and row["to"].startswith(copy.resolve().as_uri())

    # The original disappears: whatever still pointed at it would now fail.
    shutil.move(original, original.parent / "gone")

    seen = _independent(copy)
    inside = copy.resolve().as_uri() + "/"
    assert seen["metadata"].startswith(inside) and seen["location"].startswith(inside)
    assert seen["files"] and all(f.startswith(inside) for f in seen["files"])
    assert all(entry.startswith(inside) for entry in seen["log"])
    assert seen["labels"] == ["first", "second"]
    assert seen["first"] == ["first"]  # time travel to the first snapshot survives

    con = duckdb.connect()
    con.execute(f"LOAD '{_extension('avro')}'")
    con.execute(f"LOAD '{_extension('iceberg')}'")
    rows = con.execute(f"SELECT record_id, label FROM iceberg_scan('{seen['metadata']}') ORDER BY 1").fetchall()
    assert rows == [("r-1", "first"), ("r-2", "second")]

    with Mesh.open(copy) as mesh:
        answer = mesh.connect(as_user="admin").sql(f"SELECT label FROM {PORT} ORDER BY label").to_arrow()
        assert answer.column("label").to_pylist() == ["first", "second"]
    # and the copy keeps building: a new snapshot on top of the relocated metadata
    (copy / "domains/podcasts/episodes/episodes.sql").write_text("SELECT 'r-3' AS record_id, 'third' AS label\n")
    with Mesh.open(copy) as mesh:
        assert mesh.build(jobs=1).ok
        assert mesh.read(PORT).column("label").to_pylist() == ["third"]

    again = CliRunner().invoke(cli_app, ["maintain", "--relocate", "--mesh", str(copy)])
    assert again.exit_code == 0 and "nothing to relocate" in again.output
