"""The official Bitol schemas meshplane ships: each equals its release; each document meets its own version's."""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path

import pytest

from meshplane.spec.schemas import ODCS_VERSIONS, ODPS_VERSIONS, odcs_schema, odps_schema, schema_errors
from meshplane.spec.yamlsafe import YamlDocument, read_yaml

# The standards' own material (Apache-2.0) sits in shared/ beside the checkout (or beside its worktree folder).
ROOT = Path(__file__).resolve().parents[2]
STANDARDS = next(p / "shared" / "standards" for p in (ROOT.parent, ROOT.parent.parent) if (p / "shared").is_dir())
SHIPPED = resources.files("meshplane.spec").joinpath("standards")


def _shipped(name: str) -> object:
    return json.loads(SHIPPED.joinpath(name).read_text("utf-8"))


@pytest.mark.parametrize("version", [v for v in ODCS_VERSIONS if v != "v3.2.0"])
def test_odcs_schema_equals_bitols_release(version: str) -> None:
    published = STANDARDS / "schemas" / f"odcs-json-schema-{version}.json"
    assert SHIPPED.joinpath(published.name).read_bytes() == published.read_bytes()
    assert odcs_schema(version) == json.loads(published.read_text("utf-8"))


def test_odcs_v320_schema_equals_the_open_data_contract_standard_release() -> None:
    # Bitol's repository has no v3.2.0 file yet; its `open-data-contract-standard` 3.2.0 package carries it.
    assert metadata.version("open-data-contract-standard") == "3.2.0"
    released = resources.files("open_data_contract_standard").joinpath("schema.json").read_text("utf-8")
    assert odcs_schema("v3.2.0") == json.loads(released)


def test_odps_schema_equals_bitols_release() -> None:
    published = STANDARDS / "schemas" / "odps-json-schema-v1.0.0.json"
    assert SHIPPED.joinpath(published.name).read_bytes() == published.read_bytes()
    assert odps_schema("v1.0.0") == json.loads(published.read_text("utf-8"))
    # Its apiVersion enum admits v0.9.0 (Bitol's own ODPS examples declare it): the same schema checks both.
    assert odps_schema("v0.9.0") is odps_schema("v1.0.0")
    assert set(ODPS_VERSIONS) <= set(odps_schema()["properties"]["apiVersion"]["enum"])


def test_the_schemas_ship_with_their_apache_licence() -> None:
    text = SHIPPED.joinpath("LICENSE").read_text("utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    shipped = sorted(p.name for p in SHIPPED.iterdir() if p.name.endswith(".json"))
    assert shipped == sorted([f"odcs-json-schema-{v}.json" for v in ODCS_VERSIONS] + ["odps-json-schema-v1.0.0.json"])


def test_unknown_versions_are_refused_with_the_supported_list() -> None:
    with pytest.raises(ValueError, match=r"v3\.1\.0, v3\.0\.2"):
        odcs_schema("v3.9.0")
    with pytest.raises(ValueError, match=r"supported: v1\.0\.0, v0\.9\.0"):
        odps_schema("v1.1.0")


def _example(path: Path) -> YamlDocument:
    document = read_yaml(path)
    assert isinstance(document, YamlDocument), document
    return document


# Bitol's own examples that declare v3.0.2 but use what v3.1.0 introduced: refused under their declared version.
MISDECLARED = {
    "data-types__all-data-types.odcs.yaml": "logicalTypeOptions exclusiveMinimum as a value (v3.0.2 wants a boolean)",
    "quality__column-completeness.odcs.yaml": "a quality rule with `metric` and no `rule`",
    "stakeholders__basic-four-dpo.odcs.yaml": "`team` as an object (v3.0.2 wants a list)",
}


@pytest.mark.parametrize("path", sorted((STANDARDS / "odcs-examples").glob("*.yaml")), ids=lambda p: p.name)
def test_each_official_odcs_example_meets_the_schema_of_its_declared_version(path: Path) -> None:
    data = _example(path).data
    errors = schema_errors(data, "odcs", data["apiVersion"])
    if path.name in MISDECLARED:
        assert data["apiVersion"] == "v3.0.2" and errors, MISDECLARED[path.name]
        assert schema_errors({**data, "apiVersion": "v3.1.0"}, "odcs", "v3.1.0") == []
    else:
        assert errors == []


@pytest.mark.parametrize("path", sorted((STANDARDS / "odps-examples").glob("*.yaml")), ids=lambda p: p.name)
def test_each_official_odps_example_meets_the_schema_of_its_declared_version(path: Path) -> None:
    data = _example(path).data
    assert data["apiVersion"] in ODPS_VERSIONS
    assert schema_errors(data, "odps", data["apiVersion"]) == []


def test_versions_differ_so_the_declared_one_matters() -> None:
    # A v3.1.0 feature (a metric rule without `rule`) fails the v3.0.2 schema and passes v3.1.0.
    data = _example(STANDARDS / "odcs-examples" / "quality__column-validity.odcs.yaml").data
    assert data["apiVersion"] == "v3.1.0"
    assert schema_errors({**data, "apiVersion": "v3.0.2"}, "odcs", "v3.0.2") != []
    assert schema_errors(data, "odcs", "v3.1.0") == []
