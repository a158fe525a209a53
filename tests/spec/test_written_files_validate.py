"""Every file meshplane writes is a valid standard document, and a scaffolded mesh checks clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meshplane.cli.app import main
from meshplane.spec.scaffold import new_domain, new_mesh, new_product
from meshplane.spec.schemas import odcs_schema, odps_schema, schema_errors
from meshplane.spec.yamlsafe import YamlDocument, read_yaml


def _data(path: Path) -> Any:
    document = read_yaml(path)
    assert isinstance(document, YamlDocument), document
    return document.data


def _schema_errors(kind: str, data: Any) -> list[str]:
    """Errors under the official schema of the document's own apiVersion."""
    return schema_errors(data, kind, data["apiVersion"])


def _cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    code = exited.value.code
    return code if isinstance(code, int) else 1


@pytest.fixture
def scaffolded(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "acme"
    written = [*new_mesh(root), *new_domain(root, "podcasts"), *new_domain(root, "royalties", owner="money-team")]
    written += new_product(root, "podcasts", "listening_events")
    written += new_product(root, "royalties", "payouts")
    return root, written


def test_scaffolding_writes_the_expected_files(scaffolded: tuple[Path, list[Path]]) -> None:
    root, written = scaffolded
    assert sorted(str(p.relative_to(root)) for p in written) == [
        ".gitignore",
        "domains/podcasts/domain.yaml",
        "domains/podcasts/listening_events/listening_events.odcs.yaml",
        "domains/podcasts/listening_events/listening_events.sql",
        "domains/podcasts/listening_events/product.odps.yaml",
        "domains/royalties/domain.yaml",
        "domains/royalties/payouts/payouts.odcs.yaml",
        "domains/royalties/payouts/payouts.sql",
        "domains/royalties/payouts/product.odps.yaml",
        "glossary.yaml",
        "mesh.yaml",
    ]


def test_every_product_file_validates_against_the_official_odps_schema(scaffolded: tuple[Path, list[Path]]) -> None:
    _, written = scaffolded
    products = [p for p in written if p.name.endswith(".odps.yaml")]
    assert len(products) == 2
    for path in products:
        data = _data(path)
        assert data["apiVersion"] == "v1.0.0" and data["kind"] == "DataProduct"
        assert _schema_errors("odps", data) == [], path


def test_every_contract_validates_against_the_official_odcs_schema(scaffolded: tuple[Path, list[Path]]) -> None:
    _, written = scaffolded
    contracts = [p for p in written if p.name.endswith(".odcs.yaml")]
    assert len(contracts) == 2
    for path in contracts:
        data = _data(path)
        # The scaffold uses metric quality rules, which ODCS v3.1.0 introduced: it declares that version.
        assert data["apiVersion"] == "v3.1.0" and data["kind"] == "DataContract"
        assert _schema_errors("odcs", data) == [], path
        assert _schema_errors("odcs", {**data, "apiVersion": "v3.0.2"}) != []


def test_the_schemas_are_the_official_ones() -> None:
    assert "apiVersion" in odps_schema()["required"] and "DataProduct" in str(odps_schema()["properties"]["kind"])
    assert "DataContract" in str(odcs_schema()["properties"]["kind"])
    # They are real validators: a broken document fails.
    assert _schema_errors("odps", {"apiVersion": "v1.0.0", "kind": "DataProduct", "id": "a.b", "bogus": 1})
    assert _schema_errors("odcs", {"apiVersion": "v3.0.2", "kind": "DataContract", "id": "x", "version": 1})


def test_new_domain_declares_its_owner_team_and_keeps_mesh_yaml_comments(scaffolded: tuple[Path, list[Path]]) -> None:
    root, _ = scaffolded
    text = (root / "mesh.yaml").read_text("utf-8")
    assert text.startswith("# The mesh:")
    teams = [t["name"] for t in _data(root / "mesh.yaml")["teams"]]
    assert teams == ["governance-guild", "platform-team", "podcasts-team", "money-team"]
    assert _data(root / "domains/royalties/domain.yaml")["owner"] == "money-team"


def test_fresh_mesh_through_the_cli_checks_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "fresh"
    assert _cli("init", str(root)) == 0
    assert _cli("check", str(root)) == 0
    assert _cli("new", "domain", "podcasts", "--mesh", str(root)) == 0
    assert _cli("new", "product", "podcasts/listening_events", "--mesh", str(root)) == 0
    capsys.readouterr()
    assert _cli("check", str(root)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.strip() == "ok: fresh: 1 products, no errors"


def test_second_product_depending_on_the_first_checks_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "fresh"
    for argv in (
        ["init", str(root)],
        ["new", "domain", "podcasts", "--mesh", str(root)],
        ["new", "domain", "royalties", "--mesh", str(root)],
        ["new", "product", "podcasts/listening_events", "--mesh", str(root)],
        ["new", "product", "royalties.payouts", "--mesh", str(root)],
    ):
        assert _cli(*argv) == 0, argv
    product = root / "domains/royalties/payouts/product.odps.yaml"
    text = product.read_text("utf-8")
    assert "inputPorts: []\n" in text
    product.write_text(
        text.replace(
            "inputPorts: []\n",
            "inputPorts:\n"
            "  - name: listening_events\n"
            '    version: "^0.1.0"\n'
            "    contractId: podcasts.listening_events.listening_events\n",
        ),
        "utf-8",
    )
    assert _schema_errors("odps", _data(product)) == []
    capsys.readouterr()
    assert _cli("check", str(root)) == 0
    assert capsys.readouterr().err == ""
    assert _cli("graph", "--mesh", str(root)) == 0
    out = capsys.readouterr().out
    assert "← listening_events: podcasts.listening_events.listening_events  [cross-domain]" in out
    assert out.index("podcasts.listening_events") < out.index("royalties.payouts")


@pytest.mark.parametrize(
    "argv",
    [
        ["new", "product", "podcasts/listening_events"],
        ["new", "domain", "podcasts"],
    ],
)
def test_scaffolding_never_overwrites(tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "m"
    new_mesh(root)
    new_domain(root, "podcasts")
    new_product(root, "podcasts", "listening_events")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert _cli(*argv, "--mesh", str(root)) == 2
    assert "already exists; meshplane never overwrites a file" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
