"""The governance report and its renderings: text, JSON, and a standalone HTML compliance matrix."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from html import escape
from pathlib import Path
from typing import Any

from meshplane.governance.model import Point, Violation, Waiver
from meshplane.types import Problem, Severity

__all__ = ["GovernanceReport"]

PolicyRow = tuple[str, str, str, str, str]  # id, title, severity, subject, scope


@dataclass(frozen=True)
class GovernanceReport:
    mesh: str
    root: Path
    point: Point
    now: str
    policies: tuple[PolicyRow, ...]
    violations: tuple[Violation, ...]
    waived: tuple[Violation, ...]
    waivers: tuple[Waiver, ...]
    expired_waivers: tuple[Waiver, ...]
    problems: tuple[Problem, ...]
    applied: Mapping[str, frozenset[str]] = field(default_factory=dict)
    products: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        """No unwaived error-level violation and no policy or waiver file problem (a CI gate)."""
        return not self.errors and not any(p.severity is Severity.ERROR for p in self.problems)

    def for_product(self, address: str) -> list[Violation]:
        return [v for v in self.violations if v.product == address]

    @cached_property
    def _cells(self) -> dict[tuple[str, str], str]:
        cells: dict[tuple[str, str], str] = {}
        for policy, units in self.applied.items():
            for unit in units:
                cells[(policy, unit)] = "pass"
                cells[(policy, unit.split(".")[0])] = "pass"
        for status, found in (("waived", self.waived), ("fail", self.violations)):
            for v in found:
                for key in (v.product, v.domain, v.address):
                    if key is not None:
                        cells[(v.policy, key)] = status
        return cells

    def cell(self, policy: str, unit: str) -> str:
        """``fail``, ``waived``, ``pass`` or ``n/a`` for a product or domain row and a policy column."""
        return self._cells.get((policy, unit), "n/a")

    def summary(self) -> dict[str, Any]:
        """A compact record of this run for the trend (the caller stores it, e.g. in the catalog)."""
        return {
            "at": self.now,
            "point": self.point.value,
            "policies": len(self.policies),
            "errors": len(self.errors),
            "warnings": len(self.violations) - len(self.errors),
            "waived": len(self.waived),
            "by_policy": {pid: sum(1 for v in self.violations if v.policy == pid) for pid, *_ in self.policies},
        }

    # renderings -------------------------------------------------------------------------------------

    def render_text(self) -> str:
        lines = [p.render(self.root) for p in self.problems]
        lines += [v.render(self.root) for v in self.violations]
        if self.waived:
            lines.append(f"waived ({len(self.waived)}):")
            lines += ["  " + v.render(self.root).replace("\n", "\n  ") for v in self.waived]
        for waiver in self.expired_waivers:
            lines.append(f"expired waiver no longer applies: {waiver.policy} on {waiver.subject} ({waiver.expires})")
        lines.append(
            f"{self.mesh}: {len(self.policies)} policies at {self.point.value}: {len(self.errors)} errors, "
            f"{len(self.violations) - len(self.errors)} warnings, {len(self.waived)} waived"
        )
        return "\n".join(lines)

    def render_report_text(self, trend: Sequence[Mapping[str, Any]] = ()) -> str:
        """The full text report: both compliance matrices, violations, waivers in force, and the trend."""
        ids = [pid for pid, *_ in self.policies]
        lines = [f"{self.mesh}: governance compliance at {self.now} ({self.point.value})", "", "policies:"]
        lines += [f"  {n:>3}  {pid} ({sev}, {subject}, {scope})" for n, (pid, _, sev, subject, scope)
                  in enumerate(self.policies, 1)]  # fmt: skip
        for label, units in (("domains", self.domains), ("products", self.products)):
            width = max((len(u) for u in units), default=len(label))
            numbers = "".join(f"{n % 100:>3}" for n in range(1, len(ids) + 1))
            lines += ["", f"{label} x policies ({_LEGEND}):", f"  {'':<{width}} {numbers}"]
            for unit in units:
                cells = "".join(f"{_MARK[self.cell(pid, unit)]:>3}" for pid in ids)
                lines.append(f"  {unit:<{width}} {cells}")
        lines += ["", "violations:"]
        lines += ["  " + v.render(self.root).replace("\n", "\n  ") for v in self.violations] or ["  none"]
        lines += ["", "waivers in force:"]
        lines += [f"  {w.policy} on {w.subject}: expires {w.expires.isoformat()}, approved by {w.approver}: {w.reason}"
                  for w in self.waivers] or ["  none"]  # fmt: skip
        lines += [f"  expired {w.expires.isoformat()} (no longer applies): {w.policy} on {w.subject}"
                  for w in self.expired_waivers]  # fmt: skip
        lines += ["", "trend (errors / warnings / waived):"]
        for t in [*trend, self.summary()]:
            lines.append(f"  {t.get('at', '')}  {t.get('point', '')!s:<5}  {int(t.get('errors', 0)):>5} "
                         f"{int(t.get('warnings', 0)):>5} {int(t.get('waived', 0)):>5}")  # fmt: skip
        lines += ["", self.render_text().splitlines()[-1]]
        return "\n".join(lines)

    def as_json(self, trend: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "mesh": self.mesh,
            "point": self.point.value,
            "at": self.now,
            "ok": self.ok,
            "policies": [
                {"id": i, "title": t, "severity": s, "subject": sub, "scope": sc} for i, t, s, sub, sc in self.policies
            ],
            "violations": [v.as_json(self.root) for v in self.violations],
            "waived": [v.as_json(self.root) for v in self.waived],
            "waivers": [w.as_json() for w in self.waivers],
            "expired_waivers": [w.as_json() for w in self.expired_waivers],
            "problems": [
                {"location": p.location.render(self.root), "message": p.message, "fix": p.hint, "code": p.code}
                for p in self.problems
            ],
            "matrix": {
                "domains": {d: {pid: self.cell(pid, d) for pid, *_ in self.policies} for d in self.domains},
                "products": {p: {pid: self.cell(pid, p) for pid, *_ in self.policies} for p in self.products},
            },
            "summary": self.summary(),
            "trend": [dict(t) for t in trend],
        }

    def render_json(self, trend: Sequence[Mapping[str, Any]] = ()) -> str:
        return json.dumps(self.as_json(trend), indent=2, sort_keys=False)

    def render_html(self, trend: Sequence[Mapping[str, Any]] = ()) -> str:
        """One self-contained page (inline CSS, no scripts, no external assets)."""
        ids = [pid for pid, *_ in self.policies]
        head = "".join(f'<th title="{escape(t)}"><span>{escape(i)}</span></th>' for i, t, *_ in self.policies)

        def matrix(units: Sequence[str], label: str) -> str:
            rows = []
            for unit in units:
                cells = "".join(
                    f'<td class="{c.replace("/", "")}">{_MARK[c]}</td>' for c in (self.cell(p, unit) for p in ids)
                )
                rows.append(f"<tr><th>{escape(unit)}</th>{cells}</tr>")
            return f"<h2>{label} × policies</h2><table class=m><tr><th></th>{head}</tr>{''.join(rows)}</table>"

        violations = "".join(
            f"<tr><td>{escape(v.severity.value)}</td><td>{escape(v.policy)}</td><td>{escape(v.address)}</td>"
            f"<td><code>{escape(v.location.render(self.root))}</code></td><td>{escape(v.message)}</td>"
            f"<td>{escape(v.fix)}</td></tr>"
            for v in self.violations
        )
        waivers = "".join(
            f"<tr><td>{escape(w.policy)}</td><td>{escape(w.subject)}</td><td>{escape(w.approver)}</td>"
            f"<td>{w.expires.isoformat()}</td><td>{escape(w.reason)}</td></tr>"
            for w in self.waivers
        )
        trend_rows = "".join(
            f"<tr><td>{escape(str(t.get('at', '')))}</td><td>{escape(str(t.get('point', '')))}</td>"
            + "".join(f"<td>{int(t.get(key, 0))}</td>" for key in ("errors", "warnings", "waived"))
            + "</tr>"
            for t in [*trend, self.summary()]
        )
        return _PAGE.format(
            mesh=escape(self.mesh),
            at=escape(self.now),
            point=escape(self.point.value),
            status="compliant" if self.ok else "not compliant",
            errors=len(self.errors),
            warnings=len(self.violations) - len(self.errors),
            waived=len(self.waived),
            domains=matrix(self.domains, "Domains"),
            products=matrix(self.products, "Products"),
            violations=violations or "<tr><td colspan=6>none</td></tr>",
            waivers=waivers or "<tr><td colspan=5>none</td></tr>",
            trend=trend_rows,
        )


_MARK = {"pass": "✓", "fail": "✗", "waived": "W", "n/a": "·"}
_LEGEND = "✓ pass, ✗ fail, W waived, · not applicable"

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{mesh}: governance compliance</title>
<style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}} table.m td{{text-align:center}}
table.m tr:first-child th span{{writing-mode:vertical-rl;transform:rotate(180deg)}}
td.pass{{background:#e3f6e3}} td.fail{{background:#fbdcdc}} td.waived{{background:#fff2c6}} td.na{{color:#aaa}}
</style></head><body>
<h1>{mesh}: governance compliance</h1>
<p>Evaluated at <b>{at}</b> ({point}): <b>{status}</b>, {errors} errors, {warnings} warnings, {waived} waived.</p>
{domains}
{products}
<h2>Violations</h2><table><tr><th>severity</th><th>policy</th><th>subject</th><th>where</th><th>message</th><th>fix</th></tr>
{violations}</table>
<h2>Waivers in force</h2><table><tr><th>policy</th><th>subject</th><th>approver</th><th>expires</th><th>reason</th></tr>
{waivers}</table>
<h2>Trend</h2><table><tr><th>at</th><th>point</th><th>errors</th><th>warnings</th><th>waived</th></tr>
{trend}</table>
</body></html>
"""
