"""Enforcement: `meshplane check` fails on error-level violations, builds refuse violating products, fail closed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from meshplane.catalog import RunStatus
from meshplane.cli.app import main
from meshplane.types import Address
from meshplane.workspace import Mesh
from meshplane.workspace.edges import agree_declared_as_owners

from .conftest import write_mesh

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BUILD_ONLY = """\
policies:
  - id: product-active
    title: Only active products are published
    severity: error
    subject: product
    points: [build]
    rule: subject.status == "active"
    message: "{{subject.address}} has status {{subject.status}}"
    fix: "set status: active in product.odps.yaml"
    locate: [status]
"""


def _cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    code = exited.value.code
    return code if isinstance(code, int) else 1


def test_check_exits_1_with_the_located_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_mesh(tmp_path / "shop", {
        "domains/crm/customers/customers.odcs.yaml": ("{property: mask, value: hash}", "{property: unit, value: x}"),
    }, agree=False)  # fmt: skip
    assert _cli("check", str(root)) == 1
    printed = capsys.readouterr().err
    assert "domains/crm/customers/customers.odcs.yaml:20:9: error:" in printed
    assert "crm.customers.customers.email" in printed and "[pii-masked]" in printed
    assert "fix: add customProperties" in printed
    assert not (root / ".meshplane").exists()  # check never creates a catalog


def test_check_json_names_the_policy_as_the_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {"domains/sales/orders/product.odps.yaml": ("version: 2.1.0", "version: 'v2.1'")}
    root = write_mesh(tmp_path / "shop", bad)
    assert _cli("check", str(root), "--format", "json") == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    semver = [p for p in problems if p["code"] == "product-semver"]
    assert semver and semver[0]["path"] == "domains/sales/orders/product.odps.yaml" and semver[0]["line"] == 6
    assert semver[0]["fix"]


@pytest.mark.parametrize("example", ["media", "pharma"])
def test_examples_pass_the_pack_at_check(example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns(".meshplane", "data*"))
    if (EXAMPLES / example / "data").is_dir():
        shutil.copytree(EXAMPLES / example / "data", root / "data")
    with Mesh.open(root) as mesh:  # a catalog: what the products are agreed to read is known
        mesh.publish()
    # without its agreements a product reading other domains' restricted ports fails the check, located
    assert _cli("check", str(root), "--format", "json") == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert problems and {p["code"] for p in problems} == {"agreement"}
    assert all(
        p["path"].endswith("product.odps.yaml") and p["line"] and "agreement request" in p["fix"] for p in problems
    )
    with Mesh.open(root) as mesh:
        assert agree_declared_as_owners(mesh.graph, mesh.access)
    assert _cli("check", str(root)) == 0, capsys.readouterr().err


@pytest.mark.parametrize("example", ["media", "pharma"])
def test_examples_pass_the_pack_at_build(example: str, tmp_path: Path) -> None:
    from meshplane.workspace.governing import GovernanceService

    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns(".meshplane"))
    with Mesh.open(root) as mesh:
        report = GovernanceService(mesh.graph, mesh.platform).evaluate("build", record=False)
        assert report.ok, report.render_text()


def test_fresh_init_mesh_checks_clean_with_the_copied_pack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "acme"
    assert _cli("init", str(root)) == 0
    assert _cli("new", "domain", "sales", "--mesh", str(root)) == 0
    assert _cli("new", "product", "sales/orders", "--mesh", str(root)) == 0
    assert (root / "policies" / "pii-masked.yaml").is_file()
    assert (root / "policies" / "tests" / "pii-masked.yaml").is_file()
    capsys.readouterr()
    assert _cli("check", str(root)) == 0, capsys.readouterr().err
    # The copy replaces the pack's version (same id): a violation is reported once, not twice.
    contract = root / "domains" / "sales" / "orders" / "orders.odcs.yaml"
    text = contract.read_text()
    assert "description:" in text
    lines = [line for line in text.splitlines() if "description:" not in line or not line.startswith("        ")]
    contract.write_text("\n".join(lines) + "\n")
    _cli("check", str(root))
    printed = capsys.readouterr().err
    first = next(line for line in printed.splitlines() if "[column-description]" in line)
    assert printed.count(first) == 1


def test_a_build_time_violation_refuses_the_build(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "shop", {
        "policies/status.yaml": BUILD_ONLY,
        "domains/sales/orders/product.odps.yaml": ("status: active", "status: draft"),
    })  # fmt: skip
    assert _cli("check", str(root)) == 0  # a build-only policy does not fail the check
    with Mesh.open(root) as mesh:
        result = mesh.build()
        outcomes = {str(o.address): o for o in result.outcomes}
        assert outcomes["crm.customers"].error is None
        error = outcomes["sales.orders"].error or ""
        assert "[product-active]" in error and "domains/sales/orders/product.odps.yaml:7:1" in error
        assert "set status: active" in error
        run = mesh.runs("sales.orders")[0]
        assert run.status is RunStatus.FAILED and "product-active" in (run.error or "")
        assert mesh.builds.current(Address("sales", "orders", "orders")) is None  # nothing published
        reader = mesh.platform.catalog.reader
        evaluation = reader.latest_policy_evaluation()
        assert evaluation is not None and evaluation.startswith("build-")
        failed = [r for r in reader.policy_results(evaluation_id=evaluation) if r.outcome == "fail"]
        assert [(r.policy_id, r.subject) for r in failed] == [("product-active", "sales.orders")]


RAISING = """\
policies:
  - id: broken-rule
    title: A rule that reads a field no document has
    severity: error
    subject: product
    points: [build]
    rule: subject.no_such_field == 1
    message: "{{subject.address}} cannot be judged"
"""


def _slow_rule() -> str:
    numbers = "[" + ",".join(str(i) for i in range(200)) + "]"
    return f"{numbers}.all(a, {numbers}.all(b, {numbers}.all(c, a + b + c >= 0)))"


@pytest.mark.parametrize("kind", ["raises", "times out"])
def test_a_policy_that_fails_to_evaluate_blocks_the_build(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = RAISING if kind == "raises" else RAISING.replace("subject.no_such_field == 1", f"'{_slow_rule()}'")
    monkeypatch.setenv("MESHPLANE_POLICY_TIMEOUT", "0.3")
    root = write_mesh(tmp_path / "shop", {"policies/broken.yaml": policy})
    with Mesh.open(root) as mesh:
        result = mesh.build()
        outcomes = {str(o.address): o for o in result.outcomes}
        error = outcomes["crm.customers"].error or ""
        assert "[broken-rule]" in error
        assert ("failed to evaluate" if kind == "raises" else "took longer than 0.3 s") in error
        assert outcomes["sales.orders"].error  # blocked too (or skipped behind its upstream)
        assert mesh.runs("crm.customers")[0].status is RunStatus.FAILED
        assert mesh.builds.current(Address("crm", "customers", "customers")) is None
        evaluation = mesh.platform.catalog.reader.latest_policy_evaluation()
        recorded = {
            r.outcome
            for r in mesh.platform.catalog.reader.policy_results(evaluation_id=evaluation)
            if r.policy_id == "broken-rule"
        }
        assert recorded == {"error"}


def test_a_broken_policy_file_blocks_every_build(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "shop", {"policies/broken.yaml": RAISING.replace("== 1", "== (")})
    with Mesh.open(root) as mesh:
        result = mesh.build()
        error = next(o.error for o in result.outcomes if str(o.address) == "crm.customers") or ""
        assert "policies/broken.yaml:7" in error and "not valid CEL" in error
