"""Policy tests (``meshplane govern test``): input documents with the outcome each policy must give.

A test file::

    policy: product-owner-team          # the policy under test
    policy_file: ../owner.yaml          # optional: the file defining it (relative to this file)
    cases:
      - name: an owned product
        expect: allow                   # allow | deny
        input: {schema_version: 1, kind: product, address: d.p, team: t, team_declared: true}
      - name: a product without a team
        expect: deny
        input: {schema_version: 1, kind: product, address: d.p, team: "", team_declared: false}
        mesh: {...}                     # optional ``mesh`` variable
        column: {...}                   # query mask policies: the column being read

Without ``policy_file``, the policy is looked up in the policies handed in, then in the built-in pack.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshplane.governance.loading import PolicySet, load_policies, load_policy_file
from meshplane.governance.model import PolicyScope
from meshplane.governance.sandbox import CompiledRule, evaluate_one
from meshplane.spec.yamlsafe import read_yaml
from meshplane.types import Problem, SourceLocation

__all__ = ["PolicyTestResult", "run_policy_tests"]

_NOW = "2026-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class PolicyTestResult:
    location: SourceLocation
    policy: str
    case: str
    expected: str
    actual: str
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.expected == self.actual

    def render(self) -> str:
        status = "ok" if self.passed else "FAIL"
        text = f"{self.location.render()}: {status}: {self.policy}: {self.case}: "
        text += f"expected {self.expected}, got {self.actual}"
        return text + (f" ({self.reason})" if self.reason and not self.passed else "")


def _files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.yaml") if p.is_file()))
        else:
            found.append(path)
    return found


def _broken(location: SourceLocation, message: str) -> PolicyTestResult:
    return PolicyTestResult(location, "?", "?", "valid test file", "invalid", message)


def run_policy_tests(paths: Iterable[Path], *, policies: PolicySet | None = None) -> list[PolicyTestResult]:
    """Run every case of every test file under ``paths``; a malformed file is one failed result."""
    known = policies if policies is not None else load_policies(None, include_plugins=False)
    results: list[PolicyTestResult] = []
    for path in _files(paths):
        document = read_yaml(path)
        if isinstance(document, Problem):
            results.append(_broken(document.location, document.message))
            continue
        data: Any = document.data
        if not isinstance(data, dict) or "policy" not in data or not isinstance(data.get("cases"), list):
            results.append(_broken(document.locate(()), "a policy test file has 'policy:' and a 'cases:' list"))
            continue
        policy_id = str(data["policy"])
        rule: CompiledRule | None = None
        if data.get("policy_file"):
            _, compiled, problems = load_policy_file(path.parent / str(data["policy_file"]), PolicyScope.GLOBAL)
            if problems:
                results.append(_broken(problems[0].location, problems[0].message))
                continue
            rule = compiled.get(policy_id)
        elif known.get(policy_id) is not None:
            rule = known.compiled[policy_id]
        if rule is None:
            results.append(_broken(document.locate(("policy",)), f"no policy {policy_id!r} to test"))
            continue
        for index, case in enumerate(data["cases"]):
            where = document.locate(("cases", index))
            if not isinstance(case, dict) or case.get("expect") not in ("allow", "deny"):
                results.append(_broken(where, "a case has input: and expect: allow|deny"))
                continue
            variables = {
                "subject": case.get("input") or {},
                "mesh": case.get("mesh") or {},
                "now": str(case.get("now") or _NOW),
            }
            if "column" in case:
                variables["column"] = case["column"]
            outcome = evaluate_one(rule, variables)
            actual = "allow" if outcome is None else "deny"
            name = str(case.get("name") or f"case {index + 1}")
            results.append(PolicyTestResult(where, policy_id, name, str(case["expect"]), actual, outcome or ""))
    return results
