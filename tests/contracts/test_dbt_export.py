"""The dbt export of every port of both example meshes: `dbt parse` and `dbt build` pass with dbt-duckdb.

Each port becomes a model named ``<domain>__<product>__<port>`` over the port's published rows (cast to the
contract's types), with the ``schema.yml`` from ``meshplane contract export --format dbt``: its enforced model
contract and the contract's checks as dbt tests. dbt runs in a venv of its own (requirements/dbt.lock).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from meshplane.contracts.interop import export_contract
from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dbt() -> Path:
    """The dbt executable of .venv-dbt, created from requirements/dbt.lock on first use."""
    venv = ROOT / ".venv-dbt"
    lock = ROOT / "requirements" / "dbt.lock"
    stamp = venv / ".installed"
    if not stamp.is_file() or stamp.read_text("utf-8") != lock.read_text("utf-8"):
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [str(uv), "pip", "sync", "--quiet", "--python", str(venv / "bin" / "python"), str(lock)], check=True
        )
        stamp.write_text(lock.read_text("utf-8"), "utf-8")
    return venv / "bin" / "dbt"


def _copy_and_build(example: str, target: Path) -> Path:
    destination = target / example
    shutil.copytree(
        ROOT / "examples" / example, destination, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__")
    )
    subprocess.run([sys.executable, "generate.py", "--scale", "0.02"], cwd=destination, check=True, capture_output=True)
    with Mesh.open(destination) as mesh:
        agree_declared_as_owners(mesh.graph, mesh.access)  # the agreements the example's input ports declare
        result = mesh.build(jobs=1)
        assert result.ok, result
    return destination


def _project(mesh_root: Path, project: Path) -> list[str]:
    """A dbt project with one model per port; returns the model names."""
    (project / "models").mkdir(parents=True)
    (project / "macros").mkdir()
    (project / "data").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: meshplane_export\nversion: '1.0.0'\nprofile: meshplane_export\nmodel-paths: [models]\n"
        "macro-paths: [macros]\nmodels:\n  meshplane_export:\n    +materialized: table\n",
        "utf-8",
    )
    (project / "profiles.yml").write_text(
        "meshplane_export:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {project / 'export.duckdb'}\n      threads: 1\n",
        "utf-8",
    )
    models: list[str] = []
    with Mesh.open(mesh_root) as mesh:
        for address in sorted(mesh.graph.ports, key=str):
            port = str(address)
            contract = mesh.contract(port)
            (project / "macros" / "meshplane_check.sql").write_text(export_contract(contract, "dbt-macro"), "utf-8")
            schema_yml = export_contract(contract, "dbt", references=mesh.dbt_references(port))
            model = yaml.safe_load(schema_yml)["models"][0]
            name = model["name"]
            assert name == port.replace(".", "__")
            data = project / "data" / f"{name}.parquet"
            pq.write_table(mesh.read(port), data)
            casts = ",\n  ".join(f'CAST("{c["name"]}" AS {c["data_type"]}) AS "{c["name"]}"' for c in model["columns"])
            (project / "models" / f"{name}.sql").write_text(
                f"SELECT\n  {casts}\nFROM read_parquet('{data}')\n", "utf-8"
            )
            (project / "models" / f"{name}.yml").write_text(schema_yml, "utf-8")
            models.append(name)
    return models


def _dbt(dbt: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(dbt), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


@pytest.mark.parametrize("example", ["media", "pharma"])
def test_dbt_parse_and_build_pass_on_the_export(example: str, dbt: Path, tmp_path: Path) -> None:
    mesh_root = _copy_and_build(example, tmp_path)
    project = tmp_path / "dbt"
    models = _project(mesh_root, project)
    assert len(models) == len(set(models))  # no two ports share a model name

    parsed = _dbt(dbt, project, "parse", "--no-partial-parse")
    assert parsed.returncode == 0, parsed.stdout[-4000:]
    built = _dbt(dbt, project, "build")
    assert built.returncode == 0, built.stdout[-6000:]

    results = json.loads((project / "target" / "run_results.json").read_text("utf-8"))["results"]
    statuses = {r["unique_id"]: r["status"] for r in results}
    assert {uid.split(".")[-1] for uid in statuses if uid.startswith("model.")} == set(models)
    tests = {uid: s for uid, s in statuses.items() if uid.startswith("test.")}
    assert tests and all(s in ("pass", "warn") for s in tests.values()), tests
    # The contract's checks are there: built-in tests and meshplane_check tests alike.
    names = [uid.split(".")[2] for uid in tests]
    assert any(n.startswith("not_null_") for n in names) and any(n.startswith("unique_") for n in names)
    assert any(n.startswith(tuple(f"{m}__" for m in models)) for n in names)  # meshplane_check tests, by check id
