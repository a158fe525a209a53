"""The DuckDB engine: SQL and Python transforms, conversions, queries, registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.engines import ENGINES, Engine, EngineSpec, get_engine
from meshplane.engines.base import ArrowRelation, FileRelation, StagedResult
from meshplane.engines.duckdb import DuckDBEngine, _view_sql
from meshplane.errors import BuildError, EngineUnavailable


@pytest.fixture
def engine() -> Iterator[DuckDBEngine]:
    with DuckDBEngine(threads=2) as e:
        yield e


@pytest.fixture
def orders(tmp_path: Path) -> FileRelation:
    paths = []
    for part in range(2):
        path = tmp_path / f"orders-{part}.parquet"
        duckdb.sql(f"select range + {part * 10} as id, range % 3 as customer from range(10)").to_parquet(str(path))
        paths.append(path)
    return FileRelation(paths=tuple(paths))


def read(result: StagedResult) -> list[tuple[object, ...]]:
    return duckdb.sql(f"select * from read_parquet({[str(f) for f in result.files]}) order by all").fetchall()


def test_is_an_engine_with_capabilities(engine: DuckDBEngine) -> None:
    assert isinstance(engine, Engine)
    caps = engine.capabilities
    assert caps.name == "duckdb" and caps.sql_dialect == "duckdb"
    assert caps.python_transforms and caps.parallel_builds and "parquet" in caps.file_formats


def test_stage_sql_binds_inputs_by_name(engine: DuckDBEngine, orders: FileRelation, tmp_path: Path) -> None:
    customers = ArrowRelation(pa.table({"customer": [0, 1, 2], "name": ["ann", "bob", "cy"]}))
    sql = "select c.name, count(*) as n from orders o join customers c using (customer) group by all"
    result = engine.stage_sql(sql, {"orders": orders, "customers": customers}, tmp_path / "out")
    assert result.row_count == 3
    assert result.schema.names == ["name", "n"]
    assert all(f.parent == tmp_path / "out" and f.suffix == ".parquet" for f in result.files)
    assert read(result) == [("ann", 8), ("bob", 6), ("cy", 6)]


def test_results_use_iceberg_friendly_types(engine: DuckDBEngine, orders: FileRelation, tmp_path: Path) -> None:
    sql = "select sum(id) as total, now()::TIMESTAMP_NS as ts, '{}'::JSON as doc from orders"
    result = engine.stage_sql(sql, {"orders": orders}, tmp_path / "out")
    types = {f.name: f.type for f in result.schema}
    assert types == {"total": pa.int64(), "ts": pa.timestamp("us"), "doc": pa.string()}
    assert read(result)[0][0] == sum(range(10)) + sum(range(10, 20))


def test_views_are_private_to_each_call(engine: DuckDBEngine, orders: FileRelation, tmp_path: Path) -> None:
    engine.stage_sql("select * from orders", {"orders": orders}, tmp_path / "a")
    with pytest.raises(BuildError, match="orders"):
        engine.stage_sql("select * from orders", {}, tmp_path / "b")


def test_only_one_select_is_accepted(engine: DuckDBEngine, tmp_path: Path) -> None:
    for bad in ["create table x as select 1", "select 1; select 2", "drop table if exists x", ""]:
        with pytest.raises(BuildError, match=r"exactly one SELECT|does not parse"):
            engine.stage_sql(bad, {}, tmp_path / "out")
    with pytest.raises(BuildError, match="SQL transform failed"):
        engine.stage_sql("select no_such_column", {}, tmp_path / "out")


def test_view_sql_is_built_as_a_tree(tmp_path: Path) -> None:
    relation = FileRelation(paths=(Path("/d/it's.csv"),), format="csv", options={"delim": ";", "header": True})
    assert _view_sql("my input", relation) == (
        'CREATE OR REPLACE TEMPORARY VIEW "my input" AS '
        "SELECT * FROM READ_CSV(['/d/it''s.csv'], delim := ';', header := TRUE)"
    )


def _arrow(orders: pa.Table) -> pa.Table:
    return orders.filter(pa.compute.greater(orders["id"], 15))


def _pandas(orders: pa.Table):  # type: ignore[no-untyped-def]
    frame = orders.to_pandas()
    return frame[frame["id"] > 15].set_index("customer")  # the index must not leak


def _polars(orders: pa.Table):  # type: ignore[no-untyped-def]
    import polars as pl

    return pl.from_arrow(orders).filter(pl.col("id") > 15)


def _duckdb(orders: pa.Table):  # type: ignore[no-untyped-def]
    return duckdb.from_arrow(orders).filter("id > 15")


def _reader(orders: pa.Table) -> pa.RecordBatchReader:
    return _arrow(orders).to_reader()


@pytest.mark.parametrize("fn", [_arrow, _pandas, _polars, _duckdb, _reader], ids=lambda f: f.__name__[1:])
def test_stage_python_converts_every_result_kind(  # type: ignore[no-untyped-def]
    fn, engine: DuckDBEngine, orders: FileRelation, tmp_path: Path
) -> None:
    result = engine.stage_python(fn, {"orders": orders}, tmp_path / "out")
    assert result.row_count == 4
    assert "id" in result.schema.names and "__index_level_0__" not in result.schema.names
    assert sorted(r[result.schema.names.index("id")] for r in read(result)) == [16, 17, 18, 19]


def test_stage_python_errors_are_build_errors(engine: DuckDBEngine, tmp_path: Path) -> None:
    def bad(**inputs: pa.Table) -> object:
        return {"not": "a table"}

    def raises(**inputs: pa.Table) -> object:
        raise ValueError("nope")

    with pytest.raises(BuildError, match=r"bad\(\) returned dict"):
        engine.stage_python(bad, {}, tmp_path / "out")
    with pytest.raises(BuildError, match=r"raises\(\) raised ValueError: nope"):
        engine.stage_python(raises, {}, tmp_path / "out")


def test_query_returns_arrow(engine: DuckDBEngine, orders: FileRelation) -> None:
    table = engine.query("select count(*) as n, count(distinct customer) as c from orders", {"orders": orders})
    assert table.to_pylist() == [{"n": 20, "c": 3}]


def test_parallel_builds_in_threads(engine: DuckDBEngine, orders: FileRelation, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def build(i: int) -> int:
        # The same relation name in every thread: each call's views are its own.
        sql = f"select * from orders where id >= {i}"
        return engine.stage_sql(sql, {"orders": orders}, tmp_path / str(i)).row_count

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(build, range(8))) == [20 - i for i in range(8)]


def test_registry_lazy_and_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine("duckdb", threads=1)
    try:
        assert engine.capabilities.name == "duckdb"
    finally:
        engine.close()
    with pytest.raises(EngineUnavailable, match="unknown engine 'oracle'"):
        get_engine("oracle")
    monkeypatch.setitem(ENGINES, "spark", EngineSpec("meshplane.engines.spark", "SparkEngine", "no_such_pkg", "spark"))
    with pytest.raises(EngineUnavailable, match=r'pip install "meshplane\[spark\]"'):
        get_engine("spark")
    monkeypatch.setitem(ENGINES, "ghost", EngineSpec("meshplane.engines.ghost", "Ghost", "duckdb", None))
    with pytest.raises(EngineUnavailable, match="not part of this meshplane version"):
        get_engine("ghost")


@pytest.mark.parametrize(("share", "memory"), [(1, "3001MB"), (2, "3002MB")])
def test_an_engine_starts_a_child_for_each_transform_it_runs_at_once(share: int, memory: str) -> None:
    """A build running two transforms at once gives each half the cores: both find a child started with the
    engine (a memory limit of its own gives this test a pool of its own)."""
    import os
    import time

    cores = os.cpu_count() or 1
    with DuckDBEngine(threads=max(1, cores // share), memory_limit=memory) as engine:
        pool = engine._workers
        wanted = min(pool.max_workers, max(1, cores // max(1, cores // share)))
        deadline = time.monotonic() + 60
        while len(pool._idle) < wanted and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # no third child follows
        assert len(pool._idle) == wanted and pool._alive == wanted
