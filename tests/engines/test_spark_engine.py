"""What only the Spark engine does: one shared context, Spark-DataFrame transforms, Spark SQL, file layout.

The engine-neutral behaviour is in tests/engines/conformance/ (run against DuckDB and Spark).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.engines import ENGINES, get_engine
from meshplane.engines.base import ArrowRelation, FileRelation
from meshplane.errors import BuildError, EngineUnavailable

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.skipif(
        importlib.util.find_spec("pyspark") is None or shutil.which("java") is None, reason="needs PySpark and Java"
    ),
]

if importlib.util.find_spec("pyspark") is not None:
    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    from meshplane.engines.spark import SparkEngine

NUMBERS = ArrowRelation(pa.table({"n": list(range(10)), "tag": ["even", "odd"] * 5}))


@pytest.fixture
def engine() -> Iterator[SparkEngine]:
    with SparkEngine(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"}) as e:
        yield e


def test_registry_builds_it_with_honest_capabilities() -> None:
    assert ENGINES["spark"].install_hint == 'pip install "meshplane[spark]"'
    engine = get_engine("spark", master="local[2]")
    assert isinstance(engine, SparkEngine)
    caps = engine.capabilities
    assert caps.sql_dialect == "spark" and caps.python_transforms and caps.parallel_builds
    engine.close()


def test_engines_share_one_context_and_closing_keeps_it(engine: SparkEngine) -> None:
    other = SparkEngine(master="local[2]", conf={"spark.sql.shuffle.partitions": "3"})
    assert other.session.sparkContext is engine.session.sparkContext
    assert other.session is not engine.session  # own SQL conf and temporary views
    assert other.session.conf.get("spark.sql.shuffle.partitions") == "3"
    assert engine.session.conf.get("spark.sql.session.timeZone") == "UTC"
    other.close()
    with pytest.raises(BuildError, match="closed"):
        other.query("select 1 as x", {})
    assert engine.query("select 1 as x", {}).to_pylist() == [{"x": 1}]


def test_one_process_holds_one_master(engine: SparkEngine) -> None:
    engine.session  # noqa: B018 - start the context
    with pytest.raises(EngineUnavailable, match="one process holds one"):
        SparkEngine(master="local[1]").session  # noqa: B018


def test_python_transform_gets_spark_dataframes_when_annotated(engine: SparkEngine, tmp_path: Path) -> None:
    seen: dict[str, type] = {}

    def transform(numbers: DataFrame, tags: pa.Table) -> DataFrame:
        seen.update(numbers=type(numbers), tags=type(tags))
        kept = [row["tag"] for row in tags.to_pylist()]
        return numbers.where(F.col("tag").isin(kept)).groupBy("tag").agg(F.sum("n").alias("total"))

    tags = ArrowRelation(pa.table({"tag": ["odd"]}))
    result = engine.stage_python(transform, {"numbers": NUMBERS, "tags": tags}, tmp_path / "out")
    assert issubclass(seen["numbers"], DataFrame) and seen["tags"] is pa.Table
    assert duckdb.sql(f"select * from read_parquet({[str(f) for f in result.files]})").fetchall() == [("odd", 25)]


def test_var_keyword_annotation_covers_every_input(engine: SparkEngine, tmp_path: Path) -> None:
    def transform(**inputs: DataFrame) -> DataFrame:
        assert all(isinstance(v, DataFrame) for v in inputs.values())
        return inputs["a"].unionByName(inputs["b"])

    result = engine.stage_python(transform, {"a": NUMBERS, "b": NUMBERS}, tmp_path / "out")
    assert result.row_count == 20


def test_postponed_annotations_resolve_in_the_transform_module(engine: SparkEngine, tmp_path: Path) -> None:
    module = tmp_path / "transform_mod.py"
    module.write_text(
        "from __future__ import annotations\n"
        "from pyspark.sql import DataFrame\n"
        "def transform(numbers: DataFrame) -> DataFrame:\n"
        "    return numbers.selectExpr('max(n) as top')\n"
    )
    spec = importlib.util.spec_from_file_location("transform_mod", module)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    result = engine.stage_python(loaded.transform, {"numbers": NUMBERS}, tmp_path / "out")
    assert duckdb.sql(f"select * from read_parquet('{result.files[0]}')").fetchall() == [(9,)]


def test_spark_dialect_skips_transpiling(engine: SparkEngine, tmp_path: Path) -> None:
    sql = "SELECT tag, explode(sequence(1, 2)) AS k FROM numbers WHERE n < 2"
    result = engine.stage_sql(sql, {"numbers": NUMBERS}, tmp_path / "out", dialect="spark")
    assert result.row_count == 4


def test_inputs_are_private_views_dropped_after_the_call(engine: SparkEngine, tmp_path: Path) -> None:
    engine.stage_sql("select count(*) as c from numbers", {"numbers": NUMBERS}, tmp_path / "out")
    assert not [t.name for t in engine.session.catalog.listTables() if t.name.startswith("__mp_")]


def test_many_input_files_become_one_output_file(engine: SparkEngine, tmp_path: Path) -> None:
    paths = []
    for part in range(6):
        path = tmp_path / f"in-{part}.parquet"
        duckdb.sql(f"select range + {part * 100} as id from range(100)").to_parquet(str(path))
        paths.append(path)
    result = engine.stage_sql("select id * 2 as id2 from t", {"t": FileRelation(paths=tuple(paths))}, tmp_path / "o")
    assert len(result.files) == 1 and result.row_count == 600
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [result.files[0].name]  # no _SUCCESS, no .crc


def test_errors_name_the_spark_problem(engine: SparkEngine, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"UNRESOLVED_COLUMN|cannot be resolved"):
        engine.stage_sql("select nope from numbers", {"numbers": NUMBERS}, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
