"""Conformance suite: every official ODCS and ODPS example (read in place from the standards' own material)
through import, check and export, asserting validity and losslessness per file.

Lossless means: the exported YAML parses, with a strict YAML 1.2 reader and with PyYAML (YAML 1.1) alike, to
exactly the data the original means under YAML 1.2. Files meshplane refuses are listed below with the reason.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from meshplane.contracts.interop import export_contract, import_contract, import_contract_with_notes
from meshplane.errors import SpecError
from meshplane.spec.contracts import read_contract
from meshplane.spec.schemas import schema_errors, validate_document
from meshplane.spec.yamlsafe import YamlDocument, read_yaml
from meshplane.spec.yamlwrite import dump_portable
from meshplane.types import Problem

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = next(p / "shared" / "standards" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir())
ODCS = sorted((STANDARDS / "odcs-examples").glob("*.odcs.yaml"))
ODPS = sorted((STANDARDS / "odps-examples").glob("*.odps.yaml"))

# Refused at import: Bitol's example declares v3.0.2 but uses what v3.1.0 introduced (its schema says no).
MISDECLARED = {
    "data-types__all-data-types.odcs.yaml": ("schema[0].properties[1].logicalTypeOptions.exclusiveMinimum", 25),
    "quality__column-completeness.odcs.yaml": ("schema[0].properties[0].quality[0]", 23),
    "stakeholders__basic-four-dpo.odcs.yaml": ("team", 9),
}
# Imported and exported losslessly, but no port can be built from them: they describe no table.
NOT_A_TABLE = {
    "roles__service-and-operational-roles.odcs.yaml": "roles only, no schema",
    "server__azure-server.odcs.yaml": "a server only, no schema",
    "server__kafka-server.odcs.yaml": "a Kafka topic",
    "schema__kafka-schema.odcs.yaml": "a Kafka topic",
    "schema__kafka-schemaregistry.odcs.yaml": "a Kafka topic (its schema in a registry)",
    "sla__database-table-sla.odcs.yaml": "SLAs only, no schema",
}


def _strict(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)  # YAML 1.2


def _meaning(path: Path) -> Any:
    document = read_yaml(path)
    assert isinstance(document, YamlDocument), document
    return document.data


def _assert_lossless(exported: str, original: Any) -> None:
    assert _strict(exported) == original
    assert yaml.safe_load(exported) == original  # YAML 1.1: "23:59:59" or 2024-01-01 must not change type


def test_the_material_is_there() -> None:
    assert len(ODCS) == 18 and len(ODPS) == 2


@pytest.mark.parametrize("path", ODCS, ids=lambda p: p.name)
def test_odcs_example_import_check_export(path: Path) -> None:
    original = _meaning(path)
    if path.name in MISDECLARED:
        where, line = MISDECLARED[path.name]
        with pytest.raises(SpecError) as refused:
            import_contract(path)
        first = refused.value.problems[0]
        assert (first.location.path, first.location.line) == (path, line)
        assert f"not a valid ODCS data contract: {where}" in first.message
        assert "v3.0.2" in original["apiVersion"]
        return
    # import -> export
    contract = import_contract(path)
    exported = export_contract(contract, "odcs")
    _assert_lossless(exported, original)
    assert schema_errors(_strict(exported), "odcs", original["apiVersion"]) == []
    # check -> export: meshplane's own contract rules on the same document, then export what it read
    document = read_yaml(path)
    assert isinstance(document, YamlDocument)
    problems: list[Problem] = []
    spec = read_contract(document, str(original["id"]), is_source=False, problems=problems)
    if path.name in NOT_A_TABLE:
        assert spec is None
        assert [p.code for p in problems] == ["contract-schema"]
        assert "describes no table" in problems[0].message
        # as the contract of a port meshplane does not build (ODPS type: topic), it loads with its fields
        described_problems: list[Problem] = []
        described = read_contract(document, str(original["id"]), is_source=False, problems=described_problems,
                                  described=True)  # fmt: skip
        assert described is not None and described_problems == []
        fields = [o.get("properties") or [] for o in original.get("schema") or [] if o.get("properties")]
        assert [c.name for c in described.columns] == [f["name"] for f in (fields[0] if fields else [])]
        return
    assert problems == []
    assert spec is not None
    tables = [o for o in original.get("schema") or [] if o.get("physicalType") == "table"]
    assert [t.json_path for t in spec.tables] == [("schema", original["schema"].index(t)) for t in tables]
    assert [len(t.columns) for t in spec.tables] == [len(t["properties"]) for t in tables]
    _assert_lossless(export_contract(spec.odcs, "odcs"), original)


@pytest.mark.parametrize("path", ODPS, ids=lambda p: p.name)
def test_odps_example_import_check_export(path: Path) -> None:
    document = read_yaml(path)
    assert isinstance(document, YamlDocument)
    assert validate_document(document, "odps", "ODPS data product") == []
    exported = dump_portable(document.data)
    _assert_lossless(exported, document.data)
    assert schema_errors(_strict(exported), "odps", document.data["apiVersion"]) == []


def test_a_refusal_names_file_line_and_the_schemas_words() -> None:
    path = STANDARDS / "odcs-examples" / "stakeholders__basic-four-dpo.odcs.yaml"
    with pytest.raises(SpecError) as refused:
        import_contract(path)
    text = str(refused.value)
    assert text.startswith(f"{path}:9:1: error: not a valid ODCS data contract: team: ")
    assert "is not of type 'array'" in text


# datacontract-cli's own templates, as its installed package ships them (its test fixtures are not installed).
DATACONTRACT = Path(str(resources.files("datacontract"))) / "schemas"


def test_datacontract_clis_odcs_template_round_trips() -> None:
    path = DATACONTRACT / "odcs-3.2.0.init.yaml"
    original = _meaning(path)
    exported = export_contract(import_contract(path), "odcs")
    _assert_lossless(exported, original)
    assert export_contract(import_contract(exported), "odcs") == exported


@pytest.mark.parametrize("path", sorted(DATACONTRACT.glob("datacontract-*.init.yaml")), ids=lambda p: p.name)
def test_datacontract_clis_dcs_templates_import_when_their_status_is_stated(path: Path) -> None:
    with pytest.raises(SpecError, match="ODCS requires status"):
        import_contract(path)  # the templates state none, and meshplane never invents one
    contract, _ = import_contract_with_notes(path, status="draft")
    exported = export_contract(contract, "odcs")
    assert schema_errors(_strict(exported), "odcs", _strict(exported)["apiVersion"]) == []
    assert export_contract(import_contract(exported), "odcs") == exported  # its own output imports unchanged
