"""`meshplane new product` writes files that pass `meshplane check` in any mesh, with the standard pack on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from meshplane.cli.app import main
from meshplane.cli.governance import standard_pack

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _errors(root: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["check", str(root), "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    return [p for p in report["problems"] if p["severity"] == "error"]


@pytest.mark.parametrize("kind", ["pharma", "media"])
def test_a_new_product_passes_check_in_an_example_mesh_with_the_standard_pack(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / kind
    shutil.copytree(EXAMPLES / kind, root, ignore=shutil.ignore_patterns(".meshplane", "data"))
    for relative, text in standard_pack().items():  # the standard pack on, beside the mesh's own policies
        target = root / "policies" / "standard" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    before = _errors(root, capsys)
    domain = sorted(p.name for p in (root / "domains").iterdir())[0]
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["new", "product", f"{domain}/trial_costs", "--mesh", str(root)])
    assert done.value.code == 0
    added = [p for p in _errors(root, capsys) if p not in before]
    assert added == []


def test_check_file_checks_the_mesh_holding_it_and_reports_that_files_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "pharma"
    shutil.copytree(EXAMPLES / "pharma", root, ignore=shutil.ignore_patterns(".meshplane", "data"))
    domain = sorted(p.name for p in (root / "domains").iterdir())[0]
    broken = root / "domains" / domain / "domain.yaml"
    broken.write_text(broken.read_text().replace("owner:", "owner_typo:"))
    product = next((root / "domains").glob("*/*/product.odps.yaml"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["check", str(broken)])
    captured = capsys.readouterr()
    assert done.value.code == 1
    assert f"domains/{domain}/domain.yaml:" in captured.err and "no mesh.yaml" not in captured.err
    with pytest.raises(SystemExit) as done:
        main(["check", str(product)])
    captured = capsys.readouterr()
    assert done.value.code == 0, captured.err
    assert "ok: " in captured.out and "more error(s) elsewhere in the mesh" in captured.err


def test_a_new_source_passes_check_and_needs_an_existing_domain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "pharma"
    shutil.copytree(EXAMPLES / "pharma", root, ignore=shutil.ignore_patterns(".meshplane", "data"))
    domain = sorted(p.name for p in (root / "domains").iterdir())[0]
    before = _errors(root, capsys)
    with pytest.raises(SystemExit) as done:
        main(["new", "source", f"{domain}/site_visits", "--format", "parquet", "--mesh", str(root)])
    assert done.value.code == 0
    contract = root / "domains" / domain / "sources" / "site_visits.odcs.yaml"
    assert f"id: {domain}.sources.site_visits" in contract.read_text()
    assert [p for p in _errors(root, capsys) if p not in before] == []
    with pytest.raises(SystemExit) as done:
        main(["new", "source", "nowhere/site_visits", "--mesh", str(root)])
    assert done.value.code == 2
