"""Shared helpers of the contract tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

FIXTURES = Path(__file__).parent / "fixtures"

ORDERS_SQL = """
SELECT * FROM (VALUES
 ('O000001', 1, 'placed',  10.00::DECIMAL(12,2), 'EUR', 'a@b.c', 1, TIMESTAMP '2024-01-01'),
 ('O000002', 2, 'shipped', NULL,                 'XXX', 'n/a',   1, TIMESTAMP '2024-01-02'),
 ('bad',     3, 'lost',    -5,                   'USD', 'ab',   -1, TIMESTAMP '2024-01-02'),
 ('bad',     3, 'placed',  5,                    'USD', '',      2, TIMESTAMP '2024-01-02'),
 ('O000005', 1, NULL,      7,                    NULL,  NULL,    3, TIMESTAMP '2024-01-05')
) t(order_id, customer_id, status, amount, currency, email, quantity, created_at)
"""


class Engine:
    """A DuckDB connection whose tables are views over Parquet files, recording every statement."""

    def __init__(self, root: Path) -> None:
        self.con = duckdb.connect()
        self.root = root
        self.statements: list[str] = []

    def table(self, name: str, select_sql: str) -> None:
        path = self.root / f"{name}.parquet"
        self.con.execute(f"COPY ({select_sql}) TO '{path}' (FORMAT parquet)")
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{path}')")

    def query(self, sql: str) -> pa.Table:
        self.statements.append(sql)
        return self.con.execute(sql).to_arrow_table()
