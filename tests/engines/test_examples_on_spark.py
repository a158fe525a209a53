"""Both example meshes build on Spark and publish the same rows as on DuckDB.

Each example is copied twice into tmp_path with its data generated at scale 0.02; one copy builds with
``engine="spark"`` (what ``meshplane build --engine spark`` does), the other on DuckDB. Every output port
is then compared by content: order-insensitive, exact values by value (timestamps by instant), floats to a
relative 1e-9 or one unit in the last place of a rounded value.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.builds import Status
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

EXAMPLES = Path(__file__).parents[2] / "examples"
SCALE = "0.02"


def copy_example(name: str, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of the example (spark, duckdb) sharing one generated data set."""
    spark_root, duck_root = tmp_path / "spark" / name, tmp_path / "duckdb" / name
    shutil.copytree(EXAMPLES / name, spark_root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    generate = [sys.executable, str(spark_root / "generate.py"), "--scale", SCALE, "--out", str(spark_root / "data")]
    subprocess.run(generate, check=True, capture_output=True)
    shutil.copytree(spark_root, duck_root)
    return spark_root, duck_root


def build(root: Path, engine: str) -> tuple[Mesh, list[str]]:
    mesh = Mesh.open(root)
    agree_declared_as_owners(mesh.graph, mesh.access)
    result = mesh.build(engine=engine)
    failures = [f"{o.address}: {o.error}" for o in result.outcomes if o.status is not Status.SUCCESS]
    assert not failures, failures
    assert {o.engine for o in result.outcomes} == {engine}
    return mesh, [str(p) for p in mesh.graph.ports]


def canonical(value: Any) -> Any:
    """A comparable form of an exact value: numbers by value, instants in UTC, nested values as tuples."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return Decimal(value).normalize()
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dict):
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(canonical(v) for v in value)
    return value


def close(a: float | None, b: float | None) -> bool:
    """Floats agree to a relative 1e-9, or to one unit in the last place a rounded value shows.

    Sums of doubles depend on the order rows arrive in, so an average that lands on a rounding boundary
    (0.7375 vs 0.73749999) may show 0.738 on one engine and 0.737 on the other.
    """
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    shown = repr(b).split(".")[1] if "." in repr(b) and "e" not in repr(b) else ""
    last_place = 10.0 ** -len(shown) * 1.0001 if len(shown) <= 6 else 0.0
    return abs(a - b) <= max(1e-9 * max(abs(a), abs(b)), last_place)


def same_rows(left: pa.Table, right: pa.Table) -> bool:
    """Order-insensitive: rows grouped by their exact columns, floats within those groups compared with close()."""
    names = sorted(left.column_names)
    floats = [n for n in names if pa.types.is_floating(left.schema.field(n).type)]
    exact = [n for n in names if n not in floats]

    def grouped(table: pa.Table) -> dict[tuple[Any, ...], list[tuple[float | None, ...]]]:
        groups: dict[tuple[Any, ...], list[tuple[float | None, ...]]] = {}
        for row in table.select(names).to_pylist():
            key = tuple(canonical(row[n]) for n in exact)
            groups.setdefault(key, []).append(tuple(row[n] for n in floats))
        return {k: sorted(v, key=lambda t: tuple((x is None, x or 0.0) for x in t)) for k, v in groups.items()}

    a, b = grouped(left), grouped(right)
    if a.keys() != b.keys():
        return False
    return all(
        len(a[k]) == len(b[k])
        and all(close(x, y) for r, s in zip(a[k], b[k], strict=True) for x, y in zip(r, s, strict=True))
        for k in a
    )


@pytest.mark.parametrize("example", ["media", "pharma"])
def test_example_builds_on_spark_with_the_same_rows(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
        if not same_rows(on_spark, on_duckdb):
            differences.append(port)
    spark_mesh.close()
    duck_mesh.close()
    assert not differences
