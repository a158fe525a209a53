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
import tempfile
from pathlib import Path

import pytest
from tests.conftest import S3Server

from meshplane.builds import Status
from meshplane.storage import TableId
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


def test_spark_products_build_with_the_warehouse_on_s3(mesh_root: Path, s3_env: S3Server) -> None:
    """Spark has no S3 client here: it gets its S3 inputs as local copies and its output is published to the
    bucket by the platform, so a mixed plan builds the same with the warehouse on the loopback S3 server."""
    bucket = s3_env.create_bucket("spark")
    mesh_yaml = mesh_root / "mesh.yaml"
    text = mesh_yaml.read_text()
    assert "warehouse: .meshplane/warehouse" in text
    mesh_yaml.write_text(text.replace("warehouse: .meshplane/warehouse", f"warehouse: s3://{bucket}/media"))

    with Mesh.open(mesh_root) as mesh:
        plan = mesh.plan()
        agree_declared_as_owners(mesh.graph, mesh.access)
        result = mesh.build_plan(plan)
        failures = [f"{o.address}: {o.error}" for o in result.outcomes if o.status is not Status.SUCCESS]
        assert not failures, failures
        spark_built = {str(o.address) for o in result.outcomes if o.engine == "spark"}
        assert spark_built == {p.replace("/", ".") for p in ON_SPARK}
        payouts = mesh.read("royalties.creator_payouts.monthly_payouts")
        assert payouts.num_rows > 0
        # Spark's tables live in the bucket, not on local disk.
        current = mesh.platform.tables.current(TableId.for_port("royalties", "creator_payouts", "monthly_payouts", 1))
        assert current is not None
        files = current.data_files
        assert files and all(str(f).startswith(f"s3://{bucket}/media/royalties/") for f in files)
    assert not list(mesh_root.glob(".meshplane/warehouse/royalties/**/*.parquet"))


def test_spark_reads_published_files_from_s3_through_local_copies(s3_env: S3Server, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    from meshplane.engines.base import FileRelation
    from meshplane.engines.spark import SparkEngine
    from meshplane.storage.objectstore import s3_location

    location = s3_location(f"s3://{s3_env.create_bucket('sparkin')}/warehouse")
    uri = location.child("sales", "orders", "part-0.parquet")
    with location.filesystem().open_output_stream(location.key_of(uri)) as out:
        pq.write_table(pa.table({"id": [1, 2, 3], "amount": [10.0, 20.0, 30.5]}), out)

    # The default master: one process holds one Spark context, which earlier tests may have started.
    with SparkEngine(object_store=location) as engine:
        staged = engine.stage_sql(
            "SELECT count(*) AS n, sum(amount) AS total FROM orders",
            {"orders": FileRelation(paths=(uri,))},
            tmp_path / "out",
        )
        assert pq.read_table(staged.files[0]).to_pylist() == [{"n": 3, "total": 60.5}]
    # The local copies Spark read are gone with the call.
    assert not list(Path(tempfile.gettempdir()).glob("meshplane-spark-inputs-*/**/*.parquet"))
