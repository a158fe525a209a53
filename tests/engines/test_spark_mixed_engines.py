"""Per-product engine choice: one plan builds small products on DuckDB and chosen ones on Spark.

A product picks its engine with ``customProperties: [{property: engine, value: spark}]``; the mesh default
stays DuckDB. Spark products read the Iceberg snapshots DuckDB products published in the same build (and
the other way round), and every run records the engine it ran on.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshplane.builds import Status
from meshplane.types import Address
from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None or shutil.which("java") is None, reason="needs PySpark and Java"
    ),
]

EXAMPLE = Path(__file__).parents[2] / "examples" / "media"
# An SQL product reading DuckDB-built upstreams, and a Python-transform product downstream of it.
ON_SPARK = {"podcasts/listening_insights": "0 6 * * *", "royalties/creator_payouts": "0 6 2 * *"}


@pytest.fixture
def mesh_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MESHPLANE_CATALOG_URL", raising=False)
    root = tmp_path / "media"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    subprocess.run(
        [sys.executable, str(root / "generate.py"), "--scale", "0.01", "--out", str(root / "data")],
        check=True,
        capture_output=True,
    )
    for product, schedule in ON_SPARK.items():
        path = root / "domains" / product / "product.odps.yaml"
        old = f"{{property: schedule, value: {schedule}}}]"
        text = path.read_text()
        assert old in text
        path.write_text(
            text.replace(
                old,
                f"{{property: schedule, value: {schedule}}}, {{property: engine, value: spark}}]",
            )
        )
    return root


def test_one_plan_builds_on_both_engines(mesh_root: Path) -> None:
    with Mesh.open(mesh_root) as mesh:
        plan = mesh.plan()
        engines = {str(item.address): item.engine for item in plan.items}
        spark_products = {p.replace("/", ".") for p in ON_SPARK}
        assert {a for a, e in engines.items() if e == "spark"} == spark_products
        assert set(engines.values()) == {"duckdb", "spark"}

        agree_declared_as_owners(mesh.graph, mesh.access)
        result = mesh.build_plan(plan)
        failures = [f"{o.address}: {o.error}" for o in result.outcomes if o.status is not Status.SUCCESS]
        assert not failures, failures
        assert {str(o.address): o.engine for o in result.outcomes} == engines
        assert all(o.rows > 0 for o in result.outcomes)
        runs = {r.product: r.engine for r in mesh.runs(limit=100)}
        assert {p: runs[p] for p in spark_products} == {p: "spark" for p in spark_products}
        assert mesh.read("royalties.creator_payouts.monthly_payouts").num_rows > 0

        # `--engine duckdb` overrides the products' choice for one run.
        override = mesh.plan(["podcasts.listening_insights"], full_refresh=True, engine="duckdb")
        assert {item.engine for item in override.items} == {"duckdb"}
        assert Address.parse("podcasts.listening_insights") in {item.address for item in override.items}


def test_a_python_transform_asking_for_spark_dataframes_is_refused(mesh_root: Path) -> None:
    """Python transforms run confined on Spark too: one that asks for the engine's DataFrames is refused at its
    parameter, before any of its code runs, and nothing is published (docs/access.md)."""
    path = mesh_root / "domains/royalties/creator_payouts/monthly_payouts.py"
    text = path.read_text()
    assert "def transform(**inputs: pa.Table) -> pa.Table:" in text
    path.write_text(text.replace("def transform(**inputs: pa.Table) -> pa.Table:",
                                 "def transform(**inputs: DataFrame) -> pa.Table:  # noqa: F821"))  # fmt: skip
    line = text[: text.index("def transform(")].count("\n") + 1
    with Mesh.open(mesh_root) as mesh:
        agree_declared_as_owners(mesh.graph, mesh.access)
        result = mesh.build(["+royalties.creator_payouts"])
        [outcome] = [o for o in result.outcomes if str(o.address) == "royalties.creator_payouts"]
        assert outcome.status is Status.FAILED and outcome.engine == "spark"
        assert f"monthly_payouts.py:{line}:17: transform() asks for a Spark DataFrame (inputs: DataFrame)" in (
            outcome.error or ""
        )
        assert mesh.builds.current(Address.parse("royalties.creator_payouts.monthly_payouts")) is None
