"""`meshplane govern report | test | waive`: the compliance report with its trend, policy tests, catalog waivers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from meshplane.cli.app import main
from meshplane.governance import pack_files
from meshplane.workspace import Mesh
from meshplane.workspace.governing import GovernanceService

from .conftest import write_mesh

UNMASKED = {
    "domains/crm/customers/customers.odcs.yaml": ("{property: mask, value: hash}", "{property: unit, value: x}"),
}


def _cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    code = exited.value.code
    return code if isinstance(code, int) else 1


@pytest.fixture
def evaluated_twice(tmp_path: Path) -> Path:
    """A mesh with a catalog and two recorded evaluations (a check, then a build gate)."""
    root = write_mesh(tmp_path / "shop", UNMASKED)
    with Mesh.open(root) as mesh:
        service = GovernanceService(mesh.graph, mesh.platform)
        service.check(now=dt.date(2026, 5, 1))
        service.evaluate("build", now=dt.date(2026, 5, 2))
    return root


def test_report_text_has_matrices_waivers_and_trend(evaluated_twice: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli("govern", "report", "--mesh", str(evaluated_twice)) == 1  # an error-level violation
    text = capsys.readouterr().out
    assert "domains x policies" in text and "products x policies" in text
    assert "crm.customers" in text and "pii-masked" in text
    assert "waivers in force:" in text
    trend = text.split("trend (errors / warnings / waived):")[1].splitlines()
    assert "2026-05-01" in trend[1] and "check" in trend[1]
    assert "2026-05-02" in trend[2] and "build" in trend[2]


def test_report_json_and_html_include_the_trend(evaluated_twice: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    assert _cli("govern", "report", "--mesh", str(evaluated_twice), "-f", "json", "-o", str(target)) == 1
    data = json.loads(target.read_text())
    assert [t["point"] for t in data["trend"]] == ["check", "build", "check"]
    assert data["trend"][0]["errors"] == 1
    assert data["matrix"]["products"]["crm.customers"]["pii-masked"] == "fail"
    assert data["matrix"]["domains"]["sales"]["pii-masked"] == "pass"
    page = tmp_path / "report.html"
    assert _cli("govern", "report", "--mesh", str(evaluated_twice), "--format", "html", "--output", str(page)) == 1
    html = page.read_text()
    assert "<h2>Trend</h2>" in html and "2026-05-01" in html and "2026-05-02" in html
    assert "Products × policies" in html


def test_evaluations_are_recorded_for_the_dashboard(evaluated_twice: Path) -> None:
    with Mesh.open(evaluated_twice) as mesh:
        reader = mesh.platform.catalog.reader
        latest = reader.latest_policy_evaluation()
        assert latest is not None and latest.startswith("build-")
        results = reader.policy_results(evaluation_id=latest)
        failed = [r for r in results if r.outcome == "fail"]
        assert [(r.policy_id, r.subject) for r in failed] == [("pii-masked", "crm.customers")]
        assert failed[0].location.startswith("domains/crm/customers/customers.odcs.yaml:")
        assert any(r.outcome == "pass" and r.subject == "sales.orders" for r in results)
        board = mesh.discovery.governance()
        assert board["cells"][("pii-masked", "crm.customers")] == "fail"


def test_govern_test_passes_on_the_pack(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert _cli("govern", "test", "--mesh", str(tmp_path)) == 0
    assert "0 failed" in capsys.readouterr().out
    assert _cli("govern", "test", str(pack_files()[0].parent / "tests")) == 0


def test_govern_test_fails_on_a_wrong_expectation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_mesh(tmp_path / "shop")
    tests = root / "policies" / "tests"
    tests.mkdir(parents=True)
    (tests / "owner.yaml").write_text(
        "policy: product-owner-team\n"
        "cases:\n"
        "  - name: an unowned product is wrongly expected to pass\n"
        "    expect: allow\n"
        "    input: {schema_version: 1, kind: product, address: d.p, team: '', team_declared: false}\n"
    )
    assert _cli("govern", "test", "--mesh", str(root)) == 1
    printed = capsys.readouterr()
    assert "owner.yaml:3:5: FAIL: product-owner-team: an unowned product is wrongly expected to pass" in printed.err
    assert "1 failed" in printed.out
    assert _cli("govern", "test", str(tests / "owner.yaml")) == 1


def test_waivers_from_the_cli_apply_then_expire(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_mesh(tmp_path / "shop", UNMASKED)
    waive = ["govern", "waive", "pii-masked", "crm.customers", "--reason", "masking ships in release 2",
             "--until", "2026-06-30", "--mesh", str(root)]  # fmt: skip
    assert _cli(*waive, "--as", "carla") == 2  # not in the governance team
    assert "not a member of the governance team" in capsys.readouterr().err
    assert _cli(*waive, "--as", "gina") == 0
    with Mesh.open(root) as mesh:
        service = GovernanceService(mesh.graph, mesh.platform)
        during = service.evaluate("check", now=dt.date(2026, 6, 30), record=False)
        assert during.ok and [v.policy for v in during.waived] == ["pii-masked"]
        assert [(w.subject, w.expires) for w in during.waivers] == [("crm.customers", dt.date(2026, 6, 30))]
        after = service.evaluate("check", now=dt.date(2026, 7, 1), record=False)
        assert not after.ok and [v.policy for v in after.violations] == ["pii-masked"]
        assert [w.policy for w in after.expired_waivers] == ["pii-masked"]
        # the waiver is audited under its approver
        assert mesh.platform.catalog.reader.audit_log(actor="gina")[0].action == "governance.waiver"


def test_waive_rejects_unknown_policies_and_subjects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_mesh(tmp_path / "shop")
    base = ["govern", "waive", "--reason", "r", "--until", "2026-06-30", "--as", "gina", "--mesh", str(root)]
    assert _cli(*base[:2], "no-such-policy", "crm.customers", *base[2:]) == 2
    assert "no policy 'no-such-policy'" in capsys.readouterr().err
    assert _cli(*base[:2], "pii-masked", "crm.nothing", *base[2:]) == 2
    assert "is not the mesh, a domain, product, port or column" in capsys.readouterr().err
