"""Import and export: lossless ODCS round trips, official-schema validation, DDL, dbt, JSON Schema, DCS."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import jsonschema_rs
import pytest
from contract_helpers import FIXTURES
from ruamel.yaml import YAML

from meshplane.contracts.interop import (
    export_contract,
    import_contract,
    load_contract,
    odcs_json_schema,
    validate_odcs,
)
from meshplane.errors import SpecError

ODCS = sorted(FIXTURES.glob("*.odcs.yaml"))


def _yaml(text: str) -> object:
    return YAML(typ="safe", pure=True).load(text)


@pytest.mark.parametrize("path", ODCS, ids=lambda p: p.name)
def test_odcs_round_trip_is_lossless(path: Path) -> None:
    first = import_contract(path)
    text = export_contract(first, "odcs")
    second = load_contract(text)
    assert second == first
    assert export_contract(second, "odcs") == text
    original = _yaml(path.read_text())
    assert _yaml(text) == original  # nothing dropped, nothing invented


@pytest.mark.parametrize("path", ODCS, ids=lambda p: p.name)
def test_export_validates_against_official_schema(path: Path) -> None:
    document = _yaml(export_contract(import_contract(path), "odcs"))
    assert isinstance(document, dict)
    jsonschema_rs.validator_for(odcs_json_schema(document["apiVersion"])).validate(document)


def test_invalid_contract_is_rejected_with_located_problem() -> None:
    text = (FIXTURES / "orders.odcs.yaml").read_text().replace("logicalType: integer", "logicalType: int")
    with pytest.raises(SpecError) as caught:
        load_contract(text, source=Path("orders.odcs.yaml"))
    assert "schema[0].properties[1]" in str(caught.value)
    assert str(caught.value).startswith("orders.odcs.yaml")


def test_sql_ddl_runs_on_duckdb() -> None:
    contract = import_contract(FIXTURES / "order_lines.odcs.yaml")
    ddl = export_contract(contract, "sql-ddl")
    assert 'PRIMARY KEY ("order_id", "line_no")' in ddl
    con = duckdb.connect()
    con.execute(ddl)
    con.execute("INSERT INTO order_lines VALUES ('O1', 1, 'ABC', 1.0, DATE '2021-01-01')")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO order_lines VALUES ('O1', 1, 'ABC', 1.0, DATE '2021-01-01')")


def test_jsonschema_of_one_row() -> None:
    schema = json.loads(export_contract(import_contract(FIXTURES / "orders.odcs.yaml"), "jsonschema"))
    validator = jsonschema_rs.Draft202012Validator(schema)
    row = {
        "order_id": "O000001",
        "customer_id": 4,
        "status": "placed",
        "amount": 3.5,
        "currency": "EUR",
        "email": None,
        "quantity": 1,
        "created_at": "2024-01-01T00:00:00Z",
    }
    validator.validate(row)
    assert not validator.is_valid({**row, "status": "lost"})
    assert not validator.is_valid({**row, "order_id": None})
    assert not validator.is_valid({**row, "unknown": 1})


def test_dbt_schema_yml() -> None:
    doc = _yaml(export_contract(import_contract(FIXTURES / "orders.odcs.yaml"), "dbt"))
    assert isinstance(doc, dict)
    model = doc["models"][0]
    assert model["name"] == "sales__orders__orders"  # the port address: two domains' ports never clash
    assert model["config"]["contract"] == {"enforced": True}
    assert model["config"]["meta"] == {"odcs_id": "sales.orders.orders", "table": "orders"}
    columns = {c["name"]: c for c in model["columns"]}
    assert columns["order_id"]["data_tests"] == ["not_null", "unique"]
    assert {"type": "primary_key"} in columns["order_id"]["constraints"]
    assert columns["status"]["data_tests"] == [
        {"accepted_values": {"arguments": {"values": ["placed", "shipped", "cancelled"]}}}
    ]
    assert all("data_type" in c for c in model["columns"])
    # Rules beyond dbt's built-in tests become meshplane_check tests, judged against their threshold in SQL.
    generic = {t["meshplane_check"]["name"]: t["meshplane_check"] for t in model["data_tests"]}
    assert "__meshplane_model__" in generic["sales__orders__orders__amount__range"]["arguments"]["failing_sql"]
    assert generic["sales__orders__orders__amount__nullValues"]["config"] == {"severity": "warn"}
    assert "{% test meshplane_check(model, failing_sql) %}" in export_contract(
        import_contract(FIXTURES / "orders.odcs.yaml"), "dbt-macro"
    )


def test_data_contract_specification_import() -> None:
    contract = import_contract(FIXTURES / "orders.dcs.yaml")
    validate_odcs(contract.model_dump(exclude_none=True, by_alias=True, mode="json"))
    assert contract.version == "2.0.0" and contract.id == "urn:datacontract:checkout:orders-latest"
    table = (contract.schema_ or [])[0]
    props = {p.name: p for p in table.properties or []}
    assert props["order_id"].primaryKey and props["order_id"].required
    assert props["order_total"].physicalType == "BIGINT"
    assert props["order_total"].logicalTypeOptions == {"minimum": 0}
    assert props["customer_email"].classification == "sensitive"
    assert [e.value for e in props["status"].enum or []] == ["placed", "shipped"]
    assert (table.quality or [])[0].query == "SELECT COUNT(*) FROM {object}"
    slas = {s.property: (s.value, s.unit) for s in contract.slaProperties or []}
    assert slas == {
        "availability": (99.9, "percent"),
        "retention": (1, "y"),
        "latency": (25, "h"),
        "freshness": (25, "h"),
    }
    again = load_contract(export_contract(contract, "odcs"))
    assert again == contract
