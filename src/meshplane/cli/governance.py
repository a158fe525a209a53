"""``meshplane govern``: compliance reports, policy tests and waivers (a thin view over workspace.governing)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from meshplane.cli.common import MeshPath, app, err, open_mesh, out
from meshplane.errors import NotFound, UsageError
from meshplane.types import Point

__all__ = ["govern_app", "standard_pack"]

govern_app = typer.Typer(help="Governance: compliance reports, policy tests, waivers.", no_args_is_help=True)
app.add_typer(govern_app, name="govern")


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


def standard_pack() -> dict[str, str]:
    """The built-in policy pack and its tests, by path under ``policies/`` (what ``meshplane init`` copies)."""
    files: dict[str, str] = {}
    from meshplane.governance import pack_files

    for path in pack_files():
        files[path.name] = path.read_text("utf-8")
        for test in sorted((path.parent / "tests").glob("*.yaml")):
            files[f"tests/{test.name}"] = test.read_text("utf-8")
    return files


@govern_app.command("report")
def report_command(
    mesh: MeshPath = Path("."),
    format: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
    point: Annotated[Point, typer.Option(help="The enforcement point to evaluate.")] = Point.CHECK,
) -> None:
    """Evaluate the policies now: compliance matrices, violations, waivers in force and the trend of past runs."""
    if point is Point.QUERY:
        raise UsageError("query policies are evaluated per query by the access layer; report check or build")
    with open_mesh(mesh) as opened:
        from meshplane.workspace.governing import GovernanceService

        report, trend = GovernanceService(opened.graph, opened.platform).report(point=point)
    if format is ReportFormat.json:
        text = report.render_json([*trend, report.summary()])
    elif format is ReportFormat.html:
        text = report.render_html(trend)
    else:
        text = report.render_report_text(trend)
    if output is not None:
        output.write_text(text + "\n", "utf-8")
        out.print(f"wrote {output}", markup=False)
    else:
        out.print(text, markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@govern_app.command("test")
def test_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="Test files or folders (default: pack + mesh).")] = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Run policy test files: the built-in pack's and the mesh's policies/**/tests/*.yaml. Exit 1 on failures."""
    from meshplane.governance import load_policies, run_policy_tests

    root = mesh.resolve() if (mesh / "mesh.yaml").is_file() else None
    from meshplane.workspace.governing import default_test_paths

    chosen = list(paths or []) or default_test_paths(root)
    missing = [p for p in chosen if not p.exists()]
    if missing:
        raise NotFound(f"no such test file or folder: {', '.join(str(p) for p in missing)}")
    policies = load_policies(root, include_plugins=False)
    for problem in policies.problems:
        err.print(problem.render(root), markup=False)
    results = run_policy_tests(chosen, policies=policies)
    failed = [r for r in results if not r.passed]
    for result in failed:
        err.print(result.render(), markup=False)
    out.print(f"{len(results) - len(failed)} passed, {len(failed)} failed", markup=False)
    if failed or not results:
        raise typer.Exit(1)


@govern_app.command("waive")
def waive_command(
    policy: Annotated[str, typer.Argument(help="The policy id to waive.")],
    subject: Annotated[str, typer.Argument(help="The address it covers (and everything inside it).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the violation is accepted for now.")],
    until: Annotated[str, typer.Option("--until", help="Last day it applies (YYYY-MM-DD).")],
    approver: Annotated[str, typer.Option("--as", help="The approving governance team member.")],
    mesh: MeshPath = Path("."),
) -> None:
    """Record a waiver in the catalog (audited); it applies up to and including --until, then stops on its own."""
    try:
        expires = dt.date.fromisoformat(until)
    except ValueError:
        raise UsageError(f"--until {until!r}: write a date, YYYY-MM-DD") from None
    with open_mesh(mesh) as opened:
        from meshplane.workspace.governing import GovernanceService

        GovernanceService(opened.graph, opened.platform).waive(
            policy, subject, reason=reason, until=expires, approver=approver
        )
    out.print(f"waived {policy} on {subject} until {expires.isoformat()} (approved by {approver})", markup=False)
