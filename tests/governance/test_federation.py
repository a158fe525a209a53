"""Federation, waivers, fail-closed evaluation, Python policies, the query hook, reports and policy tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from meshplane.governance import (
    Point,
    Subject,
    build_query_input,
    evaluate,
    evaluate_query,
    load_policies,
    pack_files,
    run_policy_tests,
)
from meshplane.types import Principal, Severity

from .conftest import NOW, graph_of, write_mesh

CRM_C = "domains/crm/customers/customers.odcs.yaml"
NO_MASK = {CRM_C: ("        customProperties:\n          - {property: mask, value: hash}\n", "")}


def _policy(policy_id: str, rule: str, *, extra: str = "") -> str:
    return f"""\
policies:
  - id: {policy_id}
    title: Test policy
    subject: product
    points: [check, build]
    rule: '{rule}'
    message: "{{{{subject.address}}}} broke {policy_id}"
{extra}"""


def test_domain_cannot_disable_global_policy(tmp_path: Path) -> None:
    text = _policy("pii-masked", "true", extra="    enabled: false\n")
    root = write_mesh(tmp_path / "shop", {**NO_MASK, "domains/crm/policies/off.yaml": text})
    policies = load_policies(root)
    [problem] = policies.problems
    assert problem.code == "policy-federation"
    assert "cannot disable global policy 'pii-masked'" in problem.message
    assert problem.location.path == root / "domains/crm/policies/off.yaml"
    assert (problem.location.line, problem.location.column) == (2, 5)
    report = evaluate(graph_of(root), "check", now=NOW, policies=policies)
    assert [v.policy for v in report.violations] == ["pii-masked"]  # still enforced
    assert not report.ok


def test_domain_cannot_weaken_or_redefine_a_global_policy(tmp_path: Path) -> None:
    weaker = _policy("global-rule", "true", extra="    severity: warning\n")
    root = write_mesh(
        tmp_path / "shop",
        {"policies/g.yaml": _policy("global-rule", "true"), "domains/sales/policies/w.yaml": weaker},
    )
    [problem] = load_policies(root).problems
    assert "cannot weaken global policy 'global-rule'" in problem.message


def test_global_policy_may_replace_a_pack_policy(tmp_path: Path) -> None:
    text = _policy("pii-masked", "true").replace("subject: product", "subject: column")
    root = write_mesh(tmp_path / "shop", {**NO_MASK, "policies/relaxed.yaml": text})
    policies = load_policies(root)
    assert not policies.problems
    assert not evaluate(graph_of(root), "check", now=NOW, policies=policies).violations


def test_domain_policy_applies_to_its_domain_only(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "shop", {"domains/crm/policies/p.yaml": _policy("crm-never", "false")})
    report = evaluate(graph_of(root), "check", now=NOW)
    assert [v.address for v in report.violations] == ["crm.customers"]


def test_invalid_policy_files_are_located(tmp_path: Path) -> None:
    bad = """\
policies:
  - id: Bad Id
    title: x
    subject: product
    points: [check]
    rule: "true"
    message: m
  - id: bad-rule
    title: x
    subject: product
    points: [check]
    rule: "subject.name =="
    message: m
  - id: unknown-key
    title: x
    subject: planet
    points: [check]
    rule: "true"
    message: m
    colour: red
"""
    root = write_mesh(tmp_path / "shop", {"policies/bad.yaml": bad})
    problems = load_policies(root).problems
    lines = sorted((p.location.line, p.code) for p in problems)
    assert lines == [(2, "policy"), (12, "policy-rule"), (16, "policy"), (20, "policy")]


def test_too_deeply_nested_rule_is_rejected(tmp_path: Path) -> None:
    rule = "subject.tags.all(a, subject.tags.all(b, subject.tags.all(c, subject.tags.all(d, true))))"
    root = write_mesh(tmp_path / "shop", {"policies/deep.yaml": _policy("deep", rule)})
    [problem] = load_policies(root).problems
    assert "nests 4 comprehension macros" in problem.message


WAIVER = """\
waivers:
  - policy: pii-masked
    subject: crm.customers
    reason: Masking lands with the next release.
    approver: {approver}
    expires: {expires}
"""


def test_waiver_applies_until_it_expires(tmp_path: Path) -> None:
    root = write_mesh(
        tmp_path / "shop", {**NO_MASK, "waivers.yaml": WAIVER.format(approver="gina", expires="2026-06-30")}
    )
    graph = graph_of(root)
    report = evaluate(graph, "check", now=dt.date(2026, 6, 30))
    assert report.ok and not report.violations
    assert [w.subject for w in report.waivers] == ["crm.customers"]
    assert [v.policy for v in report.waived] == ["pii-masked"]
    assert report.waived[0].waiver is not None
    later = evaluate(graph, "check", now=dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.UTC))
    assert [v.policy for v in later.violations] == ["pii-masked"]
    assert not later.waived and [w.policy for w in later.expired_waivers] == ["pii-masked"]
    assert "expired waiver no longer applies" in later.render_text()


def test_waiver_approver_must_be_in_governance_team(tmp_path: Path) -> None:
    root = write_mesh(
        tmp_path / "shop", {**NO_MASK, "waivers.yaml": WAIVER.format(approver="sam", expires="2027-01-01")}
    )
    report = evaluate(graph_of(root), "check", now=NOW)
    [problem] = report.problems
    assert problem.code == "waiver-approver" and problem.location.line == 5
    assert [v.policy for v in report.violations] == ["pii-masked"]
    assert not report.ok


def test_catalog_waiver_records(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "shop", NO_MASK)
    record = {
        "policy": "pii-masked",
        "subject": "crm.customers.customers.email",
        "reason": "r",
        "approver": "gina",
        "expires": dt.date(2026, 12, 31),
    }
    report = evaluate(graph_of(root), "check", now=NOW, waivers=[record])
    assert report.ok and len(report.waived) == 1


def test_policy_that_raises_fails_closed(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "shop", {"policies/p.yaml": _policy("missing-field", "subject.no_such_field == 1")})
    for isolation in ("fork", "inline"):
        report = evaluate(graph_of(root), "build", now=NOW, isolation=isolation)
        found = [v for v in report.violations if v.policy == "missing-field"]
        assert sorted(v.address for v in found) == ["crm.customers", "sales.orders"]
        assert "no field" in found[0].message and not report.ok


def test_non_boolean_result_fails_closed(tmp_path: Path) -> None:
    root = write_mesh(tmp_path / "shop", {"policies/p.yaml": _policy("returns-string", "subject.name")})
    report = evaluate(graph_of(root), "check", now=NOW)
    assert len([v for v in report.violations if v.policy == "returns-string"]) == 2


def test_policy_that_times_out_fails_closed(tmp_path: Path) -> None:
    slow = "[" + ",".join(["1"] * 300) + "]"
    rule = f"{slow}.all(a, {slow}.all(b, {slow}.all(c, a + b + c > 0)))"
    root = write_mesh(tmp_path / "shop", {"policies/slow.yaml": _policy("slow", rule)})
    report = evaluate(graph_of(root), "build", now=NOW, timeout=0.3, isolation="fork")
    found = [v for v in report.violations if v.policy == "slow"]
    assert len(found) == 2 and "longer than 0.3 s" in found[0].message
    assert not [v for v in report.violations if v.policy != "slow"]  # later policies still ran


class _NoCountries:
    id = "no-countries"
    title = "No country columns"
    severity = Severity.WARNING
    subject = Subject.COLUMN
    points = (Point.CHECK,)

    def evaluate(self, input_doc: Mapping[str, Any]) -> bool | list[str]:
        return ["countries are sensitive"] if input_doc["name"] == "country" else True


class _Broken(_NoCountries):
    id = "broken"

    def evaluate(self, input_doc: Mapping[str, Any]) -> bool | list[str]:
        raise RuntimeError("boom")


def test_python_policies(mesh_root: Path) -> None:
    policies = load_policies(mesh_root, extra=[_NoCountries(), _Broken()], include_plugins=False)
    report = evaluate(graph_of(mesh_root), "check", now=NOW, policies=policies)
    assert [v.address for v in report.violations if v.policy == "no-countries"] == ["crm.customers.customers.country"]
    assert len([v for v in report.violations if v.policy == "broken"]) == 7  # every column, fail closed


def test_query_hook_masks_and_requires_purpose(mesh_root: Path) -> None:
    graph = graph_of(mesh_root)
    outsider = Principal("sam", frozenset({"sales-team"}))
    doc = build_query_input(graph, outsider, "crm.customers.customers", columns=["customer_id", "email"])
    decision = evaluate_query(doc)
    assert not decision.allow and "query-purpose-restricted" in decision.policies
    assert dict(decision.masks) == {"email": "hash"}
    with_purpose = build_query_input(graph, outsider, "crm.customers.customers", purpose="billing")
    decision = evaluate_query(with_purpose)
    assert decision.allow and dict(decision.masks) == {"email": "hash"}
    owner = build_query_input(graph, Principal("carla", frozenset({"crm-team"})), "crm.customers.customers")
    assert evaluate_query(owner).allow and not evaluate_query(owner).masks
    assert not evaluate_query({"schema_version": 2}).allow


def test_reports_render(tmp_path: Path) -> None:
    root = write_mesh(
        tmp_path / "shop", {**NO_MASK, "waivers.yaml": WAIVER.format(approver="gina", expires="2026-06-30")}
    )
    report = evaluate(graph_of(root), "check", now=NOW)
    data = json.loads(report.render_json(trend=[{"at": "2026-05-01", "errors": 3}]))
    assert data["matrix"]["products"]["crm.customers"]["pii-masked"] == "waived"
    assert data["matrix"]["products"]["sales.orders"]["pii-masked"] == "pass"
    assert data["matrix"]["domains"]["crm"]["pii-masked"] == "waived"
    assert len(data["trend"]) == 1 and data["waivers"][0]["expires"] == "2026-06-30"
    html = report.render_html(trend=[{"at": "2026-05-01", "errors": 3}])
    assert html.startswith("<!doctype html>") and "2026-06-30" in html and "<script" not in html
    assert "0 errors" in report.render_text()


def test_pack_has_allowing_and_denying_fixtures() -> None:
    results = run_policy_tests([pack_files()[0].parent / "tests"])
    assert results and all(r.passed for r in results), [r.render() for r in results if not r.passed]
    ids = {p.id for p in load_policies(None).policies}
    assert len(ids) >= 15
    for policy in ids:
        outcomes = {r.expected for r in results if r.policy == policy}
        assert outcomes == {"allow", "deny"}, policy


def test_users_test_their_own_policies(tmp_path: Path) -> None:
    (tmp_path / "policies/tests").mkdir(parents=True)
    (tmp_path / "policies/tags.yaml").write_text(_policy("tagged", "size(subject.tags) > 0"))
    (tmp_path / "policies/tests/tagged.yaml").write_text("""\
policy: tagged
policy_file: ../tags.yaml
cases:
  - {name: tagged, expect: allow, input: {tags: [a]}}
  - {name: untagged, expect: deny, input: {tags: []}}
  - {name: wrong expectation, expect: allow, input: {}}
""")
    results = run_policy_tests([tmp_path / "policies/tests"])
    assert [r.passed for r in results] == [True, True, False]
    assert results[2].location.line == 6 and "FAIL" in results[2].render()
