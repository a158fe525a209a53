"""`meshplane test`, `status`, `diff` and `contract export|import`: thin views over the quality use cases."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from meshplane.cli.common import OWNER_DETAILS_HINT, MeshPath, OutputFormat, app, err, open_mesh, out, report_blocked
from meshplane.errors import UsageError

if TYPE_CHECKING:
    from meshplane.workspace.quality import PortDiff, PortStatus, TestReport

__all__ = ["contract_app", "diff", "junit_xml", "status", "test"]

SelectorArgs = Annotated[
    list[str] | None,
    typer.Argument(
        help="DOMAIN, DOMAIN.PRODUCT, +X (with upstream), X+ (with downstream). Default: all.", show_default=False
    ),
]
_STYLE = {"met": "green", "at_risk": "yellow", "breached": "red", "unknown": "dim"}


class TestFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


class ExportFormat(StrEnum):
    odcs = "odcs"
    jsonschema = "jsonschema"
    sql_ddl = "sql-ddl"
    dbt = "dbt"
    dbt_macro = "dbt-macro"


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, "utf-8")
        err.print(f"wrote {output}", markup=False)


# --- test --------------------------------------------------------------------------------------------


def junit_xml(report: TestReport) -> str:
    """One <testsuite> per port, one <testcase> per rule; warnings pass with their message in system-out."""
    root = ET.Element(
        "testsuites", name="meshplane test", tests="0", failures="0", errors="0", time=f"{report.seconds:.3f}"
    )
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for port in report.ports:
        suite = ET.SubElement(root, "testsuite", name=str(port.port), time=f"{port.seconds:.3f}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        if port.error is not None:
            case = ET.SubElement(suite, "testcase", classname=str(port.port), name="contract", time="0")
            ET.SubElement(case, "error", message=port.error, type="error").text = port.error
            counts["tests"] += 1
            counts["errors"] += 1
        for result in port.results:
            case = ET.SubElement(suite, "testcase", classname=str(port.port), name=result.check_id, time="0")
            counts["tests"] += 1
            if not result.executed:
                ET.SubElement(case, "skipped", message=result.message)
                counts["skipped"] += 1
                continue
            if result.passed:
                continue
            detail = "\n".join(
                [
                    result.message,
                    f"location: {result.location}",
                    *(json.dumps(row, default=str) for row in result.sample_rows),
                ]
            )
            if result.blocks_publish:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=result.message, type=result.metric).text = detail
            else:
                ET.SubElement(case, "system-out").text = f"warning: {detail}"
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _print_test(report: TestReport) -> None:
    for port in report.ports:
        verdict = "[green]ok[/green]" if port.ok else "[red]FAILED[/red]"
        out.print(
            f"[bold]{port.port}[/bold]  {verdict}  [dim]{len(port.results)} checks"
            f"{'' if port.rows is None else f', {port.rows:,} rows'}[/dim]"
        )
        if port.error:
            err.print(f"  error: {port.error}", markup=False)
        for r in port.results:
            if not r.executed:
                out.print(f"  not executed {r.check_id}: {r.message}  ({r.location})", markup=False)
                continue
            if r.passed:
                continue
            label = "FAIL" if r.blocks_publish else "warn"
            out.print(
                f"  {label} {r.check_id}: observed {r.observed}, "
                f"{r.threshold.render() if r.threshold else ''}  ({r.location})",
                markup=False,
            )
            for row in r.sample_rows:
                out.print(f"       {json.dumps(row, default=str)}", markup=False)
    failed = sum(1 for p in report.ports if not p.ok)
    checks = sum(len(p.results) for p in report.ports)
    failures = sum(1 for p in report.ports for r in p.results if not r.passed)
    skipped = sum(1 for p in report.ports for r in p.results if not r.executed)
    line = (
        f"{len(report.ports)} port(s), {checks} checks, {failures} failed, "
        f"{f'{skipped} not executed, ' if skipped else ''}{failed} port(s) failing "
        f"in {report.seconds:.2f}s{' (staged, not published)' if report.staged else ''}"
    )
    (out if report.ok else err).print(line, markup=False)


@app.command()
def test(
    selectors: SelectorArgs = None,
    mesh: MeshPath = Path("."),
    format: Annotated[TestFormat, typer.Option("--format", "-f")] = TestFormat.text,
    staged: Annotated[
        bool,
        typer.Option(
            "--staged",
            help="Build the transforms into staging (never published) "
            "and check that result instead of the published snapshot.",
        ),
    ] = False,
    engine: Annotated[str | None, typer.Option(help="Override each product's engine (with --staged).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to a file.")] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Show the report as this user sees it (default $MESHPLANE_USER).")
    ] = None,
) -> None:
    """Run every port contract against its data; results go to the catalog. Exit 1 on an error-level failure.

    Failing rows and error text are shown for the ports the acting user owns, as in the REST API."""
    with open_mesh(mesh, isolate=True) as opened:
        viewer = opened.access.viewer(as_user)
        full = opened.test(selectors, staged=staged, engine=engine)
        report = opened.discovery.test_report_for(viewer, full)
        hidden = any(
            shown.error != port.error
            or any(r.sample_rows and not s.sample_rows for r, s in zip(port.results, shown.results, strict=True))
            for port, shown in zip(full.ports, report.ports, strict=True)
        )
        if hidden:
            err.print(OWNER_DETAILS_HINT.format(user=viewer.username), markup=False)
        blocked = not selectors and report_blocked(opened.blocked, opened.root)
    if format is TestFormat.junit:
        _write(junit_xml(report), output)
    elif format is TestFormat.json:
        _write(json.dumps(report.as_json(), indent=2) + "\n", output)
    else:
        _print_test(report)
    if not report.ok or blocked:
        raise typer.Exit(1)


# --- status ------------------------------------------------------------------------------------------


def _print_status(statuses: list[PortStatus]) -> None:
    for s in statuses:
        style = _STYLE.get(s.status, "")
        last = s.last_publish.isoformat(timespec="seconds") if s.last_publish else "never"
        out.print(f"[bold]{s.port}[/bold] v{s.version}  [{style}]{s.status}[/{style}]  [dim]last publish {last}[/dim]")
        for r in s.results:
            st = _STYLE.get(r.status.value, "")
            target = r.slo.target_text + (f" ({r.slo.element})" if r.slo.element else "")
            out.print(f"  {r.slo.name:<13} [{st}]{r.status.value:<8}[/{st}] target {target}: ", end="")
            out.print(r.message, markup=False)
        if not s.results:
            out.print("  [dim]no evaluable SLOs (latency, frequency, completeness, availability)[/dim]")
        for m in s.old_majors:
            if m.expired:
                state = "expired: dropped by the next build"
            elif m.deprecation:
                state = f"served until {m.deprecation.isoformat()}"
            else:
                state = "served until a deprecationDate is set on the new major's contract"
            out.print(f"  old major v{m.major} ({m.table}): {state}", markup=False)


@app.command()
def status(
    selectors: SelectorArgs = None,
    mesh: MeshPath = Path("."),
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """SLOs per port (latency, frequency, completeness, availability): met, at risk or breached, with evidence."""
    with open_mesh(mesh) as opened:
        statuses = opened.slo_status(selectors)
    if format is OutputFormat.json:
        out.print_json(json.dumps([s.as_json() for s in statuses]))
    else:
        _print_status(statuses)


# --- diff --------------------------------------------------------------------------------------------


def _print_diff(diffs: list[PortDiff]) -> None:
    for d in diffs:
        if d.error:
            err.print(f"{d.port}: {d.error}", markup=False)
            continue
        if d.old_version is None:
            out.print(f"[bold]{d.port}[/bold] {d.new_version}  [dim]new: nothing {d.against} to compare with[/dim]")
            continue
        verdict = (
            "[red]BREAKING without a new major version[/red]"
            if d.needs_major
            else "[yellow]breaking, new major version[/yellow]"
            if d.breaking
            else "[green]compatible[/green]"
            if d.changes
            else "[dim]unchanged[/dim]"
        )
        out.print(f"[bold]{d.port}[/bold] {d.old_version} -> {d.new_version} ({d.against})  {verdict}")
        for c in d.changes:
            line = f"  {c.change.kind.value:<9} {c.change.code:<24} {c.change.path}: {c.change.message}"
            out.print(line, markup=False)
            if c.products or c.consumers:
                out.print(
                    f"            hits products: {', '.join(c.products) or '-'}; "
                    f"consumers: {', '.join(c.consumers) or '-'}",
                    markup=False,
                )


@app.command()
def diff(
    selectors: SelectorArgs = None,
    mesh: MeshPath = Path("."),
    against: Annotated[
        str, typer.Option(help="'published' (the catalog's contracts) or a git revision.")
    ] = "published",
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """Classify each contract change as breaking, additive or cosmetic. Exit 1 when one breaks without a major bump."""
    with open_mesh(mesh, isolate=True) as opened:
        diffs = opened.diff(selectors, against=against)
        blocked = not selectors and report_blocked(opened.blocked, opened.root)
    if format is OutputFormat.json:
        out.print_json(json.dumps([d.as_json() for d in diffs]))
    else:
        _print_diff(diffs)
    if any(d.needs_major for d in diffs) or blocked:
        raise typer.Exit(1)


# --- contract export / import ------------------------------------------------------------------------

contract_app = typer.Typer(help="Export a port's contract to other formats, or import one.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


@contract_app.command("export")
def export_command(
    port: Annotated[str, typer.Argument(help="DOMAIN.PRODUCT.PORT (or a source contract id).")],
    mesh: MeshPath = Path("."),
    format: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.odcs,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file instead of stdout.")] = None,
) -> None:
    """Write a contract as ODCS, the JSON Schema of a row, SQL DDL, or a dbt model (schema.yml with the contract's
    checks as dbt tests; `--format dbt-macro` writes the generic test macro they call, for macros/)."""
    from meshplane.contracts.interop import export_contract

    with open_mesh(mesh) as opened:
        contract = opened.contract(port)
        table_index = opened.table_index(port)
        references = opened.dbt_references(port) if format is ExportFormat.dbt else None
    try:
        text = export_contract(contract, format.value, table_index=table_index, references=references)
    except ValueError as error:
        raise UsageError(str(error)) from None
    _write(text, output)


@contract_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="An ODCS v3 or Data Contract Specification 1.x file.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the ODCS file here.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="ODCS status for a DCS file that states none (e.g. draft).")
    ] = None,
) -> None:
    """Read ODCS v3 or the Data Contract Specification; write validated ODCS v3 YAML (and list, on stderr, what a
    Data Contract Specification file held that ODCS cannot carry)."""
    from meshplane.contracts.interop import export_contract, import_contract_with_notes

    if not file.is_file():
        raise UsageError(f"{file}: no such file")
    contract, not_carried = import_contract_with_notes(file, status=status)
    _write(export_contract(contract, "odcs"), output)
    for note in not_carried:
        err.print(f"warning: not carried: {note}", markup=False)
