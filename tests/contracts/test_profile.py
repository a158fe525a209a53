"""Profiles measured with the contract checks: exact values on a small known table, sensitive columns by counts
only, and the scalar measures in the checks' one aggregate scan."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.contracts.plan import compile_plan
from meshplane.contracts.runner import check_and_profile, run_checks

CONTRACT = """
apiVersion: v3.1.0
kind: DataContract
id: shop.orders.orders
name: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - {name: order_id, logicalType: integer, required: true, unique: true}
      - {name: status, logicalType: string}
      - {name: amount, logicalType: number}
      - {name: ordered_on, logicalType: date}
      - {name: email, logicalType: string, classification: pii}
    quality:
      - {metric: rowCount, mustBeGreaterThan: 0}
"""

TABLE = pa.table(
    {
        "order_id": pa.array([1, 2, 3, 4, 5, 6, 7, 8], pa.int64()),
        "status": ["paid", "paid", "paid", "open", "open", "void", None, None],
        "amount": pa.array([10.0, 20.0, 20.0, 30.0, 40.0, 50.0, 60.0, None], pa.float64()),
        "ordered_on": [
            date(2026, 1, 1),
            date(2026, 1, 1),
            date(2026, 1, 2),
            date(2026, 1, 3),
            date(2026, 1, 5),
            date(2026, 1, 8),
            date(2026, 1, 9),
            date(2026, 1, 12),
        ],
        "email": ["a@x.io", "b@x.io", None, "c@x.io", "zed@x.io", "d@x.io", "e@x.io", "f@x.io"],
    }
)


def _plan() -> Any:
    return compile_plan(OpenDataContractStandard.model_validate(yaml.safe_load(CONTRACT)))


def _engine(table: pa.Table) -> tuple[list[str], Any]:
    con = duckdb.connect()
    con.register("orders", table)
    seen: list[str] = []

    def query(sql: str) -> pa.Table:
        seen.append(sql)
        return con.execute(sql).to_arrow_table()

    return seen, query


def _by_name(profile: Any) -> dict[str, Any]:
    return {c.name: c for c in profile.columns}


def test_profile_values_on_a_known_table() -> None:
    _, query = _engine(TABLE)
    results, profile = check_and_profile(_plan(), "orders", query, profile=True, sensitive={"email"})
    assert profile is not None and all(r.passed for r in results)
    assert profile.rows == 8
    cols = _by_name(profile)
    assert [c.kind for c in profile.columns] == ["numeric", "text", "numeric", "date", "text"]

    status = cols["status"]
    assert (status.nulls, status.distinct, status.min, status.max) == (2, 3, "open", "void")
    assert status.top == (("paid", 3), ("open", 2), ("void", 1))  # by count, then value
    assert status.histogram == ()

    amount = cols["amount"]
    assert (amount.nulls, amount.min, amount.max) == (1, 10.0, 60.0)
    assert amount.distinct is not None and abs(amount.distinct - 6) <= 2  # an estimate (HyperLogLog)
    assert sum(b[2] for b in amount.histogram) == 7  # every non-null value in exactly one bin
    assert amount.histogram[0][0] == 10.0 and amount.histogram[-1][1] == 60.0
    assert amount.histogram[-1][2] == 1  # the maximum falls in the last bin, not past it
    two_twenties = [b for b in amount.histogram if b[0] <= 20.0 < b[1]]
    assert two_twenties and two_twenties[0][2] == 2

    order_id = cols["order_id"]
    assert (order_id.nulls, order_id.min, order_id.max) == (0, 1, 8)
    # integers: whole-number bins, one value each here
    assert [b[2] for b in order_id.histogram] == [1] * 8
    assert order_id.top == ()

    day = cols["ordered_on"]
    assert (day.min, day.max) == ("2026-01-01", "2026-01-12")
    assert day.histogram[0][0] == "2026-01-01"
    assert sum(b[2] for b in day.histogram) == 8
    assert day.histogram[0][2] == 2  # two orders on the first day, nothing splits a day


def test_sensitive_columns_are_counted_never_valued() -> None:
    seen, query = _engine(TABLE)
    _, profile = check_and_profile(_plan(), "orders", query, profile=True, sensitive={"email"})
    assert profile is not None
    email = _by_name(profile)["email"]
    assert email.sensitive and email.nulls == 1
    assert (email.distinct, email.min, email.max, email.top, email.histogram) == (None, None, None, (), ())
    # and no query the profile ran reads a value of it: the column appears only inside count()
    for sql in seen:
        stripped = sql.replace('COUNT("email")', "")
        assert '"email"' not in stripped, sql
    assert "zed@x.io" not in repr(profile.as_json())


def test_scalar_measures_share_the_checks_scan() -> None:
    seen, query = _engine(TABLE)
    check_and_profile(_plan(), "orders", query, profile=True, sensitive={"email"})
    scans = [sql for sql in seen if "APPROX_COUNT_DISTINCT" in sql.upper()]
    assert len(scans) == 1
    # the same statement measures the contract's checks (row count, uniqueness) and the profile
    assert '"row_count"' in scans[0] and "order_id__unique" in scans[0].lower() and "__profile_" in scans[0]
    # beyond it: the schema probe, then the distributions of every profiled column with values in one query
    assert len(seen) == 1 + 1 + 1
    assert seen[-1].count("UNION ALL") == 3
    without, plain_query = _engine(TABLE)
    assert run_checks(_plan(), "orders", plain_query) and not any("__profile_" in sql for sql in without)


def test_a_distribution_the_engine_cannot_compute_leaves_only_its_column_without_a_chart() -> None:
    """The distributions share one query; when it fails, each runs alone: the same profile, less the column
    whose own query fails."""
    _, query = _engine(TABLE)
    _, together = check_and_profile(_plan(), "orders", query, profile=True, sensitive={"email"})
    _, plain = _engine(TABLE)

    def refusing(sql: str) -> pa.Table:
        if "UNION ALL" in sql or ('"amount"' in sql and 'AS "value"' in sql):
            raise duckdb.Error("refused")
        return plain(sql)

    _, alone = check_and_profile(_plan(), "orders", refusing, profile=True, sensitive={"email"})
    assert together is not None and alone is not None
    assert _by_name(alone)["amount"].histogram == () and _by_name(together)["amount"].histogram
    for name in ("order_id", "status", "ordered_on"):
        assert _by_name(alone)[name] == _by_name(together)[name]


def test_an_empty_table_profiles_to_counts() -> None:
    _, query = _engine(TABLE.slice(0, 0))
    results, profile = check_and_profile(_plan(), "orders", query, profile=True)
    assert profile is not None and profile.rows == 0
    assert all(c.histogram == () and c.top == () and c.nulls == 0 for c in profile.columns)
    assert not next(r for r in results if r.metric == "rowCount").passed


def test_one_value_columns_profile_from_the_aggregate_alone() -> None:
    """A column holding one value (or one row) needs no distribution query: the aggregate scan answers, and the
    answer is the one a distribution query gives."""
    from meshplane.contracts import profile as profiling

    constant = pa.table(
        {
            "order_id": pa.array([7, 7, 7], pa.int64()),
            "status": ["paid", "paid", None],
            "amount": pa.array([2.5, 2.5, 2.5], pa.float64()),
            "ordered_on": [date(2026, 1, 3)] * 3,
            "email": ["a@x.io", None, None],
        }
    )
    seen, query = _engine(constant)
    _, found = check_and_profile(_plan(), "orders", query, profile=True, sensitive={"email"})
    assert found is not None
    cols = _by_name(found)
    assert cols["order_id"].histogram == ((7, 7, 3),)
    assert cols["amount"].histogram == ((2.5, 2.5, 3),)
    assert cols["ordered_on"].histogram == (("2026-01-03", "2026-01-03", 3),)
    assert cols["status"].top == (("paid", 2),)  # text: its top values are still queried
    distribution = [sql for sql in seen if 'AS "bin"' in sql or 'AS "value"' in sql]
    assert len(distribution) == 1 and '"status"' in distribution[0]
    # the same bins the histogram query computes for them
    table = profiling.relation_table("orders", "duckdb")
    for name, data_type in (("order_id", pa.int64()), ("amount", pa.float64()), ("ordered_on", pa.date32())):
        column = next(c for c in profiling.profile_columns(constant.schema, frozenset()) if c.name == name)
        low = constant.column(name)[0].as_py()
        bins = profiling._bins(column, low, low, data_type, pa)
        sql = profiling._histogram_sql(column, bins.low, bins.width, bins.count, table, bins.is_date).sql("duckdb")
        rows = [(r["value"], r["n"]) for r in query(sql).to_pylist()]
        assert cols[name].histogram == profiling._histogram(column, bins, rows)

    one_row, one_query = _engine(TABLE.slice(2, 1))
    _, single = check_and_profile(_plan(), "orders", one_query, profile=True, sensitive={"email"})
    assert single is not None and single.rows == 1
    assert not [sql for sql in one_row if 'AS "bin"' in sql or 'AS "value"' in sql]  # the checks' scan only
    assert _by_name(single)["amount"].histogram == ((20.0, 20.0, 1),)
    assert _by_name(single)["status"].top == ()  # one value seen once says nothing, as before


def test_a_sampled_profile_says_so_and_keeps_counts_and_checks_exact() -> None:
    """Values measured on a sample are the sample's and marked with its size; the row count, null counts and the
    contract checks stay those of every row (a duplicate outside the sample still fails uniqueness)."""
    from meshplane.contracts.profile import ProfileSample

    rows = 3000
    whole = pa.table(
        {
            "order_id": pa.array([*range(rows - 1), 5], pa.int64()),  # one duplicate, in the last row
            "status": [("paid", "open", "void")[i % 3] for i in range(rows)],
            "amount": pa.array([float(i) if i < 2000 else None for i in range(rows)], pa.float64()),
            "ordered_on": [date(2026, 1, 1 + i % 28) for i in range(rows)],
            "email": [f"user{i}@x.io" for i in range(rows)],
        }
    )
    sample = whole.slice(0, 400).drop_columns(["email"])  # the sampled columns: values of non-sensitive ones
    con = duckdb.connect()
    con.register("orders", whole)
    con.register("sampled", sample)
    seen: list[str] = []

    def query(sql: str) -> pa.Table:
        seen.append(sql)
        return con.execute(sql).to_arrow_table()

    results, found = check_and_profile(
        _plan(), "orders", query, profile=True, sensitive={"email"}, sample=ProfileSample("sampled", 400)
    )
    assert found is not None and found.rows == rows and found.sampled == 400
    assert not next(r for r in results if r.check_id.endswith("order_id.unique")).passed
    cols = _by_name(found)
    amount = cols["amount"]
    assert amount.nulls == 1000 and amount.sampled == 400  # nulls of every row; the sample held none
    assert sum(b[2] for b in amount.histogram) == 400 and (amount.min, amount.max) == (0.0, 399.0)
    assert cols["status"].top == (("paid", 134), ("open", 133), ("void", 133))  # the sample's counts, not 1000s
    assert cols["order_id"].distinct is not None and cols["order_id"].distinct <= 450  # the sample's values
    email = cols["email"]
    assert email.sensitive and email.sampled is None and email.nulls == 0 and email.distinct is None
    assert found.as_json()["sampled"] == 400 and found.as_json()["columns"][0]["sampled"] == 400
    assert "sampled" not in email.as_json()
    # the whole relation is scanned once, for the checks and the counts; values are measured on the sample only
    on_whole = [sql for sql in seen if '"orders"' in sql or "FROM orders" in sql]
    assert on_whole and not any("APPROX_COUNT_DISTINCT" in sql.upper() or "MIN(" in sql.upper() for sql in on_whole)
    assert not any('"email"' in sql.replace('COUNT("email")', "") for sql in seen)


def test_a_small_relations_distributions_read_its_rows_once_with_the_same_answers(monkeypatch: Any) -> None:
    from meshplane.contracts import profile as profiling

    seen, query = _engine(TABLE)
    _, shared = check_and_profile(_plan(), "orders", query, profile=True, sensitive={"email"})
    [distributions] = [sql for sql in seen if "UNION ALL" in sql]
    assert distributions.startswith("WITH __meshplane_profiled AS MATERIALIZED (SELECT * FROM orders)")
    assert distributions.count("FROM orders") == 1
    monkeypatch.setattr(profiling, "SAMPLE_ROWS", 7)  # 8 rows: "large", each query reads the relation itself
    seen.clear()
    _, alone = check_and_profile(_plan(), "orders", query, profile=True, sensitive={"email"})
    assert not any("MATERIALIZED" in sql for sql in seen)
    assert shared == alone
