"""Both example meshes build on Spark and publish the same rows as on DuckDB.

Each example is copied twice into tmp_path with its data generated at scale 0.02; one copy builds with
``engine="spark"`` (what ``meshplane build --engine spark`` does), the other on DuckDB. Every output port
is then compared by content: order-insensitive, floats to a relative 1e-9, decimals and floats by value,
timestamps by instant.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.build import Status
from meshplane.workspace import Mesh

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
                       reason="needs PySpark and Java"),
]

EXAMPLES = Path(__file__).parents[2] / "examples"
SCALE = "0.02"


def copy_example(name: str, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of the example (spark, duckdb) sharing one generated data set."""
    spark_root, duck_root = tmp_path / "spark" / name, tmp_path / "duckdb" / name
    shutil.copytree(EXAMPLES / name, spark_root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    subprocess.run([sys.executable, str(spark_root / "generate.py"), "--scale", SCALE, "--out", str(spark_root / "data")],
                   check=True, capture_output=True)
    shutil.copytree(spark_root, duck_root)
    return spark_root, duck_root


def build(root: Path, engine: str) -> tuple[Mesh, list[str]]:
    mesh = Mesh.open(root)
    result = mesh.build(engine=engine)
    failures = [f"{o.address}: {o.error}" for o in result.outcomes if o.status is not Status.SUCCESS]
    assert not failures, failures
    assert {o.engine for o in result.outcomes} == {engine}
    return mesh, [str(p) for p in mesh.graph.ports]


def canonical(value: Any) -> Any:
    """A comparable form: numbers as floats rounded to 9 significant digits, instants in UTC."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        number = float(value)
        if number == 0 or math.isnan(number) or math.isinf(number):
            return number
        return round(number, 8 - int(math.floor(math.log10(abs(number)))))
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dict):
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(canonical(v) for v in value)
    return value


def content(table: pa.Table) -> Counter[tuple[Any, ...]]:
    names = sorted(table.column_names)
    return Counter(tuple(canonical(row[n]) for n in names) for row in table.to_pylist())


@pytest.mark.parametrize("example", ["media", "pharma"])
def test_example_builds_on_spark_with_the_same_rows(example: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHPLANE_CATALOG_URL", raising=False)
    spark_root, duck_root = copy_example(example, tmp_path)
    spark_mesh, ports = build(spark_root, "spark")
    duck_mesh, duck_ports = build(duck_root, "duckdb")
    assert ports == duck_ports and ports
    differences = []
    for port in ports:
        on_spark, on_duckdb = spark_mesh.read(port), duck_mesh.read(port)
        assert on_spark.num_rows == on_duckdb.num_rows, port
        assert sorted(on_spark.column_names) == sorted(on_duckdb.column_names), port
        if content(on_spark) != content(on_duckdb):
            differences.append(port)
    spark_mesh.close()
    duck_mesh.close()
    assert not differences
