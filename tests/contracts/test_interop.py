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
    import_contract_with_notes,
    load_contract,
    odcs_json_schema,
    validate_odcs,
)
from meshplane.errors import SpecError
from meshplane.spec.contracts import read_contract
from meshplane.spec.yamlsafe import YamlDocument, parse_yaml_text
from meshplane.types import Problem

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


def test_dcs_import_resolves_definitions_and_keeps_quality_blocks_and_examples() -> None:
    contract, not_carried = import_contract_with_notes(FIXTURES / "payments.dcs.yaml")
    table = (contract.schema_ or [])[0]
    props = {p.name: p for p in table.properties or []}
    # $ref resolved: the definition's type, description and constraints, local keys on top
    assert props["payment_id"].logicalType == "string" and props["payment_id"].description == (
        "Payment identifier from the PSP."
    )
    assert props["payment_id"].unique and props["payment_id"].required
    assert props["payment_id"].logicalTypeOptions == {"pattern": "^P[0-9]+$"}
    assert props["amount"].physicalType == "DECIMAL(12,2)" and props["amount"].required
    # the SodaCL block is a custom rule for soda, its specification kept as written
    custom = [q for q in table.quality or [] if q.type == "custom"]
    assert [(q.engine, q.implementation) for q in custom] == [
        ("soda", {"checks for payments": ["row_count > 0", "duplicate_count(payment_id) = 0"]})
    ]
    extra = {c.property: c.value for c in contract.customProperties or []}
    assert extra["examples"][0]["data"].startswith("payment_id;amount;currency")
    # a csv delimiter, which ODCS servers do not have, is kept in the server's customProperties
    server = (contract.servers or [])[0]
    assert [(c.property, c.value) for c in server.customProperties or []] == [("delimiter", ";")]
    assert sorted(not_carried) == [
        "info.x-internal-ticket: no ODCS field",
        "models.payments.fields.currency.x-sensitivity: no ODCS field",
    ]


def test_dcs_import_never_invents_a_status() -> None:
    text = (FIXTURES / "payments.dcs.yaml").read_text().replace("  status: active\n", "")
    with pytest.raises(SpecError) as refused:
        import_contract(text)
    assert "ODCS requires status, which this Data Contract Specification file does not state" in str(refused.value)
    assert "add info.status (e.g. status: active) under info: or pass --status" in str(refused.value)
    stated, _ = import_contract_with_notes(text, status="draft")  # the user states it
    assert stated.status == "draft"


def test_dcs_import_accepts_its_own_output_and_meshplane_reads_the_delimiter(tmp_path: Path) -> None:
    first = export_contract(import_contract(FIXTURES / "payments.dcs.yaml"), "odcs")
    again = export_contract(import_contract(first), "odcs")
    assert again == first
    document = parse_yaml_text(tmp_path / "payments.odcs.yaml", first)
    assert isinstance(document, YamlDocument)
    problems: list[Problem] = []
    spec = read_contract(document, "payments", is_source=True, problems=problems)
    assert problems == [] and spec is not None and spec.server is not None
    assert (spec.server.format, spec.server.delimiter) == ("csv", ";")


def test_dcs_import_command_lists_what_it_cannot_carry(capsys: pytest.CaptureFixture[str]) -> None:
    from meshplane.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(["contract", "import", str(FIXTURES / "payments.dcs.yaml")])
    captured = capsys.readouterr()
    assert done.value.code in (0, None)
    assert "apiVersion: v3.2.0" in captured.out  # the version whose features it uses: enum on a property
    assert "warning: not carried: info.x-internal-ticket: no ODCS field" in captured.err
