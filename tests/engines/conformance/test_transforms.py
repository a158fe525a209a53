"""SQL and Python transforms: inputs bound by name, errors reported as BuildError, concurrent calls."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pytest

from meshplane.engines import Engine
from meshplane.engines.base import ArrowRelation, FileRelation
from meshplane.errors import BuildError

from .helpers import parquet, rows


@pytest.fixture
def orders(tmp_path: Path) -> FileRelation:
    first = parquet(tmp_path / "orders-0.parquet", "select range as id, range % 3 as customer from range(10)")
    second = parquet(tmp_path / "orders-1.parquet", "select range + 10 as id, range % 3 as customer from range(10)")
    return FileRelation(paths=first.paths + second.paths)


CUSTOMERS = ArrowRelation(pa.table({"customer": [0, 1, 2], "name": ["ann", "bob", "cy"]}))


def test_is_an_engine(engine: Engine) -> None:
    assert isinstance(engine, Engine)
    caps = engine.capabilities
    assert caps.python_transforms and caps.arrow_inputs
    assert {"parquet", "csv", "json"} <= caps.file_formats


def test_sql_binds_file_and_arrow_inputs_by_name(engine: Engine, orders: FileRelation, tmp_path: Path) -> None:
    sql = "select c.name, count(*) as n from orders o join customers c using (customer) group by c.name"
    result = engine.stage_sql(sql, {"orders": orders, "customers": CUSTOMERS}, tmp_path / "out")
    assert result.row_count == 3 and result.schema.names == ["name", "n"]
    assert all(f.parent == tmp_path / "out" and f.suffix == ".parquet" for f in result.files)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f.name for f in result.files)
    assert rows(result) == [{"name": "ann", "n": 8}, {"name": "bob", "n": 6}, {"name": "cy", "n": 6}]


def test_sql_ctes_and_qualified_columns(engine: Engine, orders: FileRelation, tmp_path: Path) -> None:
    sql = """
        with big as (select * from orders where orders.id >= 15)
        select big.customer, customers.name, max(big.id) as top
        from big join customers on customers.customer = big.customer
        group by 1, 2
    """
    result = engine.stage_sql(sql, {"orders": orders, "customers": CUSTOMERS}, tmp_path / "out")
    assert rows(result) == [
        {"customer": 0, "name": "ann", "top": 19},
        {"customer": 1, "name": "bob", "top": 17},
        {"customer": 2, "name": "cy", "top": 18},
    ]


def test_window_functions_and_qualify(engine: Engine, orders: FileRelation, tmp_path: Path) -> None:
    sql = "select customer, id from orders qualify row_number() over (partition by customer order by id desc) = 1"
    result = engine.stage_sql(sql, {"orders": orders}, tmp_path / "out")
    assert rows(result) == [{"customer": 0, "id": 19}, {"customer": 1, "id": 17}, {"customer": 2, "id": 18}]


def test_duckdb_idioms_transpile(engine: Engine, orders: FileRelation, tmp_path: Path) -> None:
    sql = """
        select * exclude (id), id // 4 as bucket, id::varchar || '-' || customer as label, greatest(id, 5) as g
        from orders where id in (1, 7) order by all
    """
    assert rows(engine.stage_sql(sql, {"orders": orders}, tmp_path / "out")) == [
        {"customer": 1, "bucket": 0, "label": "1-1", "g": 5},
        {"customer": 1, "bucket": 1, "label": "7-1", "g": 7},
    ]


def test_csv_and_json_inputs(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id;name;born\n1;ann;2001-02-03\n2;bob;\n")
    (tmp_path / "pets.json").write_text(
        "\n".join(json.dumps(r) for r in [{"owner": 1, "pet": "cat"}, {"owner": 1, "pet": "dog"}])
    )
    inputs = {
        "people": FileRelation(paths=(tmp_path / "people.csv",), format="csv", options={"delim": ";"}),
        "pets": FileRelation(paths=(tmp_path / "pets.json",), format="json"),
    }
    sql = "select p.name, p.born, count(x.pet) as pets from people p left join pets x on x.owner = p.id group by all"
    result = engine.stage_sql(sql, inputs, tmp_path / "out")
    assert result.schema.field("born").type == pa.date32()
    assert [(r["name"], r["born"] is None, r["pets"]) for r in rows(result)] == [("ann", False, 2), ("bob", True, 0)]


def transform_join(orders: pa.Table, customers: pa.Table) -> pa.Table:
    assert isinstance(orders, pa.Table) and isinstance(customers, pa.Table)
    names = dict(zip(customers["customer"].to_pylist(), customers["name"].to_pylist(), strict=True))
    return pa.table({"id": orders["id"], "name": [names[c] for c in orders["customer"].to_pylist()]})


def test_python_transform_gets_and_returns_arrow(engine: Engine, orders: FileRelation, tmp_path: Path) -> None:
    result = engine.stage_python(transform_join, {"orders": orders, "customers": CUSTOMERS}, tmp_path / "out")
    assert result.row_count == 20 and result.schema.names == ["id", "name"]
    assert rows(result)[:2] == [{"id": 0, "name": "ann"}, {"id": 1, "name": "bob"}]


def test_python_transform_may_return_pandas(engine: Engine, tmp_path: Path) -> None:
    def transform(customers: pa.Table) -> Any:
        frame = customers.to_pandas()
        frame["upper"] = frame["name"].str.upper()
        return frame[frame["customer"] > 0]

    result = engine.stage_python(transform, {"customers": CUSTOMERS}, tmp_path / "out")
    assert [r["upper"] for r in rows(result)] == ["BOB", "CY"]


def test_only_one_select_is_accepted(engine: Engine, tmp_path: Path) -> None:
    for sql in ("drop table customers", "select 1; select 2", "create table x as select 1"):
        with pytest.raises(BuildError, match="exactly one SELECT"):
            engine.stage_sql(sql, {"customers": CUSTOMERS}, tmp_path / "out")


def test_failures_are_build_errors(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(BuildError):
        engine.stage_sql("select no_such_column from customers", {"customers": CUSTOMERS}, tmp_path / "a")
    with pytest.raises(BuildError):
        engine.stage_sql("select * from no_such_input", {"customers": CUSTOMERS}, tmp_path / "b")

    def broken(customers: pa.Table) -> pa.Table:
        raise ValueError("boom")

    with pytest.raises(BuildError, match=r"broken\(\) raised ValueError: boom"):
        engine.stage_python(broken, {"customers": CUSTOMERS}, tmp_path / "c")
    with pytest.raises(BuildError, match="returned int"):
        engine.stage_python(lambda customers: 42, {"customers": CUSTOMERS}, tmp_path / "d")


def test_query_returns_arrow(engine: Engine, orders: FileRelation) -> None:
    result = engine.query("select count(*) as n, sum(id) as total from orders", {"orders": orders})
    assert isinstance(result, pa.Table)
    assert result.to_pylist() == [{"n": 20, "total": 190}]


def test_concurrent_calls_keep_inputs_apart(engine: Engine, tmp_path: Path) -> None:
    if not engine.capabilities.parallel_builds:
        pytest.skip("the engine declares no parallel builds")
    results: dict[int, list[dict[str, Any]]] = {}
    errors: list[BaseException] = []

    def build(n: int) -> None:
        try:
            data = ArrowRelation(pa.table({"x": list(range(n))}))
            staged = engine.stage_sql("select count(*) as n from data", {"data": data}, tmp_path / f"out{n}")
            results[n] = rows(staged)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(n,)) for n in (3, 5, 7, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == {n: [{"n": n}] for n in (3, 5, 7, 11)}
