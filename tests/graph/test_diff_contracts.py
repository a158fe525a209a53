"""Table-driven classification of contract changes (consumer safety) and the major-bump gate."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from open_data_contract_standard.model import OpenDataContractStandard

from meshplane.graph.diff import ChangeKind, diff_contracts, requires_major_bump

BASE_FILE = Path(__file__).parents[1] / "contracts" / "fixtures" / "orders.odcs.yaml"
B, A, C = ChangeKind.BREAKING, ChangeKind.ADDITIVE, ChangeKind.COSMETIC
Doc = dict[str, Any]


def base() -> Doc:
    return OpenDataContractStandard.from_file(str(BASE_FILE)).model_dump(by_alias=True, exclude_none=True)


def prop(doc: Doc, name: str) -> Doc:
    return next(p for p in doc["schema"][0]["properties"] if p["name"] == name)


def s(doc: Doc) -> Doc:
    return doc["schema"][0]  # type: ignore[no-any-return]


def remove(doc: Doc, name: str) -> None:
    s(doc)["properties"] = [p for p in s(doc)["properties"] if p["name"] != name]


def setp(name: str, **fields: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        for key, value in fields.items():
            if value is None:
                prop(doc, name).pop(key, None)
            else:
                prop(doc, name)[key] = value

    return change


def add_column(**fields: Any) -> Callable[[Doc], None]:
    return lambda doc: s(doc)["properties"].append({"name": "channel", "logicalType": "string", **fields})


def rename_column(doc: Doc) -> None:
    prop(doc, "currency")["name"] = "currency_code"


def rename_table(doc: Doc) -> None:
    s(doc)["name"] = "customer_orders"


def quality(name: str, index: int, **fields: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        rule = prop(doc, name)["quality"][index] if name else s(doc)["quality"][index]
        for op in [k for k in rule if k.startswith("must")]:
            if any(k.startswith("must") for k in fields):
                del rule[op]
        rule.update(fields)

    return change


def drop_rule(doc: Doc) -> None:
    prop(doc, "currency")["quality"] = []


def add_rule(doc: Doc) -> None:
    prop(doc, "status")["quality"] = [{"metric": "nullValues", "mustBe": 0}]


def sla(prop_name: str, **fields: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        next(x for x in doc["slaProperties"] if x["property"] == prop_name).update(fields)

    return change


def drop_sla(doc: Doc) -> None:
    doc["slaProperties"] = [x for x in doc["slaProperties"] if x["property"] != "availability"]


def composite_pk(doc: Doc) -> None:
    prop(doc, "created_at").update(primaryKey=True, primaryKeyPosition=2)


def enum_values(*values: str) -> Callable[[Doc], None]:
    return setp("status", enum=[{"value": v} for v in values])


def top(**fields: Any) -> Callable[[Doc], None]:
    return lambda doc: doc.update(fields)


CASES: list[tuple[str, Callable[[Doc], None], ChangeKind, str]] = [
    ("column removed", lambda d: remove(d, "email"), B, "column_removed"),
    ("column renamed", rename_column, B, "column_renamed"),
    ("table renamed", rename_table, B, "table_renamed"),
    ("new optional column", add_column(), A, "column_added"),
    ("new required column", add_column(required=True), A, "column_added"),
    ("int -> bigint", setp("quantity", physicalType="BIGINT"), A, "type_widened"),
    ("bigint -> int", setp("customer_id", physicalType="INTEGER"), B, "type_narrowed"),
    ("string -> integer", setp("currency", logicalType="integer", physicalType="INTEGER"), B, "type_changed"),
    ("integer -> number", setp("quantity", logicalType="number", physicalType="DOUBLE"), A, "type_widened"),
    ("decimal widened", setp("amount", physicalType="DECIMAL(18,2)"), A, "type_widened"),
    ("decimal scale cut", setp("amount", physicalType="DECIMAL(12,0)"), B, "type_narrowed"),
    ("varchar(10) -> varchar(5)", lambda d: setp("currency", physicalType="VARCHAR(10)")(d), A, "type_widened"),
    ("optional -> required", setp("quantity", required=True), A, "required_added"),
    ("required -> optional", setp("created_at", required=False), B, "required_dropped"),
    ("unique dropped", setp("order_id", unique=False), B, "unique_dropped"),
    ("unique added", setp("email", unique=True), A, "unique_added"),
    ("enum value removed", enum_values("placed", "shipped"), B, "enum_values_removed"),
    ("enum value added", enum_values("placed", "shipped", "cancelled", "returned"), A, "enum_values_added"),
    ("primary key changed", composite_pk, B, "primary_key_changed"),
    ("quality tightened", quality("amount", 0, mustBeLessOrEqualTo=5), A, "quality_rule_tightened"),
    ("quality loosened", quality("amount", 0, mustBeLessOrEqualTo=20), B, "quality_rule_loosened"),
    ("quality rule removed", drop_rule, B, "quality_rule_removed"),
    ("quality rule added", add_rule, A, "quality_rule_added"),
    (
        "valid values narrowed",
        quality("currency", 0, arguments={"validValues": ["EUR", "USD"]}),
        A,
        "quality_rule_tightened",
    ),
    (
        "valid values widened",
        quality("currency", 0, arguments={"validValues": ["EUR", "USD", "GBP", "CHF"]}),
        B,
        "quality_rule_loosened",
    ),
    ("row count between narrowed", quality("", 0, mustBeBetween=[10, 1000]), A, "quality_rule_tightened"),
    ("severity error -> warning", quality("currency", 0, severity="warning"), B, "quality_severity_changed"),
    ("latency weakened", sla("latency", value=2, unit="h"), B, "slo_weakened"),
    ("latency strengthened", sla("latency", value=10, unit="m"), A, "slo_strengthened"),
    ("availability weakened", sla("availability", value=99.0), B, "slo_weakened"),
    ("availability strengthened", sla("availability", value=99.9), A, "slo_strengthened"),
    ("SLO removed", drop_sla, B, "slo_removed"),
    ("classification raised", setp("email", classification="restricted"), B, "classification_raised"),
    ("classification lowered", setp("email", classification="confidential"), A, "classification_lowered"),
    ("classification added", setp("status", classification="pii"), B, "classification_raised"),
    ("column description", setp("amount", description="Gross total."), C, "description_changed"),
    ("table description", lambda d: s(d).update(description="All orders."), C, "table_description_changed"),
    ("contract description", top(description={"purpose": "New text."}), C, "description_changed"),
    ("version changed", top(version="1.3.0"), C, "version_changed"),
    ("status deprecated", top(status="deprecated"), C, "status_changed"),
    ("status retired", top(status="retired"), B, "status_changed"),
    ("relationship removed", setp("customer_id", relationships=None), B, "relationship_removed"),
    (
        "maximum lowered",
        setp("amount", logicalTypeOptions={"minimum": 0, "maximum": 500}),
        A,
        "option_maximum_tightened",
    ),
    ("maximum dropped", setp("amount", logicalTypeOptions={"minimum": 0}), B, "option_maximum_loosened"),
    ("tags changed", setp("email", tags=["contact"]), C, "tags_changed"),
]


@pytest.mark.parametrize(("label", "mutate", "kind", "code"), CASES, ids=[c[0] for c in CASES])
def test_change_is_classified(label: str, mutate: Callable[[Doc], None], kind: ChangeKind, code: str) -> None:
    old_doc = base()
    if label == "varchar(10) -> varchar(5)":  # start from the narrower type, widen it
        setp("currency", physicalType="VARCHAR(5)")(old_doc)
    new_doc = copy.deepcopy(old_doc)
    mutate(new_doc)
    diff = diff_contracts(
        OpenDataContractStandard.model_validate(old_doc), OpenDataContractStandard.model_validate(new_doc)
    )
    found = [(c.kind, c.code) for c in diff.changes]
    assert (kind, code) in found, found
    assert diff.is_breaking == (kind is B), found
    assert all(c.path and c.message for c in diff.changes)


def test_no_change_is_empty() -> None:
    contract = OpenDataContractStandard.model_validate(base())
    assert diff_contracts(contract, contract).changes == ()


def test_paths_point_into_the_contract() -> None:
    new = base()
    remove(new, "email")
    diff = diff_contracts(OpenDataContractStandard.model_validate(base()), OpenDataContractStandard.model_validate(new))
    assert diff.breaking[0].path == "schema[0].properties[5]"
    assert "email" in diff.breaking[0].message


@pytest.mark.parametrize(
    ("breaking", "old", "new", "blocked"),
    [
        (True, "1.2.0", "1.3.0", True),
        (True, "1.2.0", "2.0.0", False),
        (False, "1.2.0", "1.2.1", False),
        (True, "0.3.0", "0.4.0", False),
        (True, "0.3.0", "0.3.1", True),
    ],
)
def test_requires_major_bump(breaking: bool, old: str, new: str, blocked: bool) -> None:
    old_doc, new_doc = base(), base()
    if breaking:
        remove(new_doc, "email")
    diff = diff_contracts(
        OpenDataContractStandard.model_validate(old_doc), OpenDataContractStandard.model_validate(new_doc)
    )
    assert requires_major_bump(diff, old, new) is blocked
