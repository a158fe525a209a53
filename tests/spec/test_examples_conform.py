"""Every example and scaffolded file passes the official schema of its declared version and `datacontract lint`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshplane.spec.scaffold import new_domain, new_mesh, new_product, new_source
from meshplane.spec.schemas import schema_errors
from meshplane.spec.yamlsafe import YamlDocument, read_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.yaml") if p.name.endswith((".odcs.yaml", ".odps.yaml")))


def _data(path: Path) -> Any:
    document = read_yaml(path)
    assert isinstance(document, YamlDocument), document
    return document.data


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("scaffold") / "acme"
    written = [*new_mesh(root), *new_domain(root, "podcasts"), *new_product(root, "podcasts", "listening_events")]
    written += new_source(root, "podcasts", "hosting_listens")
    return [p for p in written if p.name.endswith((".odcs.yaml", ".odps.yaml"))]


def test_the_examples_hold_standard_documents() -> None:
    assert len([p for p in EXAMPLES if p.name.endswith(".odps.yaml")]) >= 13
    assert len([p for p in EXAMPLES if p.name.endswith(".odcs.yaml")]) >= 46


def _check_official(path: Path) -> None:
    data = _data(path)
    kind = "odps" if path.name.endswith(".odps.yaml") else "odcs"
    assert schema_errors(data, kind, data["apiVersion"]) == [], path
    if kind == "odps":
        assert data["apiVersion"] == "v1.0.0", path
        return
    # The version declared is the oldest whose features the file uses (v3.0.2 unless it needs v3.1.0).
    older = {"v3.1.0": "v3.0.2", "v3.0.2": None}[data["apiVersion"]]
    if older is not None:
        assert schema_errors({**data, "apiVersion": older}, "odcs", older) != [], f"{path} could declare {older}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT / "examples")))
def test_example_meets_the_official_schema_of_its_version(path: Path) -> None:
    _check_official(path)


def test_scaffolded_files_meet_the_official_schemas(scaffolded: list[Path]) -> None:
    assert len(scaffolded) == 3
    for path in scaffolded:
        if "sources" in path.parts:  # the source scaffold declares v3.1.0 so that quality rules added later fit
            data = _data(path)
            assert schema_errors(data, "odcs", data["apiVersion"]) == [], path
        else:
            _check_official(path)


@pytest.fixture(scope="module")
def datacontract_lint() -> Any:
    from datacontract.data_contract import DataContract

    def lint(path: Path) -> list[str]:
        result = DataContract(data_contract_file=str(path)).lint()
        return [f"{c.name}: {c.reason}" for c in result.checks if c.result.value != "passed"]

    return lint


def test_datacontract_lint_accepts_every_example_and_scaffolded_contract(
    datacontract_lint: Any, scaffolded: list[Path]
) -> None:
    contracts = [p for p in [*EXAMPLES, *scaffolded] if p.name.endswith(".odcs.yaml")]
    failures = {str(p): problems for p in contracts if (problems := datacontract_lint(p))}
    assert failures == {}
    assert len(contracts) >= 48
