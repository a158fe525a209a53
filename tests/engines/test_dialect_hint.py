"""A product may declare the SQL dialect it is written in; DuckDB translates other dialects with sqlglot."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from meshplane.engines.base import ArrowRelation
from meshplane.engines.duckdb import DuckDBEngine


def test_spark_dialect_sql_builds_on_duckdb(tmp_path: Path) -> None:
    orders = pa.table({"order id": [1, 2, 3], "amount": [10.0, 20.0, 30.0]})
    engine = DuckDBEngine()
    # Backquoted identifiers and Spark's NVL only parse as Spark SQL.
    spark_sql = "SELECT `order id` AS order_id, NVL(amount, 0) * 2 AS doubled FROM orders WHERE `order id` > 1"
    result = engine.stage_sql(spark_sql, {"orders": ArrowRelation(orders)}, tmp_path, dialect="spark")
    rows = pa.concat_tables([pq.read_table(f) for f in result.files]).sort_by("order_id").to_pylist()
    assert rows == [{"order_id": 2, "doubled": 40.0}, {"order_id": 3, "doubled": 60.0}]
    engine.close()
