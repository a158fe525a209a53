"""`meshplane plan`, `build`, `runs`, `schedule` and `maintain`."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.table import Table

from meshplane.cli.common import (
    OWNER_DETAILS_HINT,
    MeshPath,
    OutputFormat,
    app,
    err,
    open_mesh,
    out,
    print_rows,
    report_blocked,
)
from meshplane.types import Address

if TYPE_CHECKING:
    from meshplane.builds import BuildResult, ProductOutcome

__all__ = ["build", "maintain", "plan", "runs", "schedule"]

SelectorArgs = Annotated[
    list[str] | None,
    typer.Argument(
        help="DOMAIN, DOMAIN.PRODUCT, +X (with upstream), X+ (with downstream). Default: all.", show_default=False
    ),
]
_STYLE = {"running": "yellow", "success": "green", "up_to_date": "green", "failed": "red", "skipped": "dim",
          "queued": "dim"}  # fmt: skip


@app.command()
def plan(
    selectors: SelectorArgs = None,
    mesh: MeshPath = Path("."),
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Plan every selected product.")] = False,
    engine: Annotated[str | None, typer.Option(help="Override each product's engine for this run.")] = None,
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """Show what a build would do now and why; the JSON form is empty when everything is up to date."""
    with open_mesh(mesh, isolate=True) as opened:
        result = opened.plan(selectors, full_refresh=full_refresh, engine=engine)
        if format is OutputFormat.json:
            # Plain JSON, one product per line: machines read it, and both Rich's highlighter and the
            # json module's indenting encoder (pure Python) cost seconds on a plan of 10,000 products.
            items = [json.dumps(item) for item in result.as_json()]
            print("[\n  " + ",\n  ".join(items) + "\n]" if items else "[]")
        elif not result:
            out.print("up to date: nothing to build")
        else:
            for item in result.items:
                out.print(f"{item.address}  [dim]({item.engine})[/dim]  " + ", ".join(r.value for r in item.reasons))
                for name, run in item.runs.items():
                    if run.why != "refresh: full":  # only append ports say which kind of run they get
                        out.print(f"  {name}: {run.kind} run ({run.why})", markup=False)
        if not selectors and report_blocked(opened.blocked, opened.root):
            raise typer.Exit(1)


class _Progress:
    """Per product: status, rows, seconds — redrawn live while the build runs."""

    def __init__(self, products: list[Address]) -> None:
        self.rows: dict[Address, list[str]] = {p: ["queued", "", "", ""] for p in products}
        self.lock = threading.Lock()
        self.live: Live | None = None

    def table(self) -> Table:
        table = Table("product", "status", "rows", "seconds", "detail", box=None, pad_edge=False)
        with self.lock:
            for address, (status, rows, seconds, detail) in self.rows.items():
                style = _STYLE.get(status, "default")
                table.add_row(str(address), f"[{style}]{status}[/{style}]", rows, seconds, detail)
        return table

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.table())

    def started(self, product: Address, run_id: str, engine: str) -> None:
        with self.lock:
            self.rows[product] = ["running", "", "", engine]
        self._refresh()

    def finished(self, outcome: ProductOutcome) -> None:
        with self.lock:
            detail = (outcome.error or "").splitlines()[0][:160] if outcome.error else outcome.engine
            self.rows[outcome.address] = [outcome.status.value, f"{outcome.rows:,}", f"{outcome.seconds:.2f}", detail]
        self._refresh()


def _summary(result: BuildResult) -> None:
    from meshplane.builds import Status

    parts = [
        f"{result.count(Status.SUCCESS)} built",
        f"{result.count(Status.FAILED)} failed",
        f"{result.count(Status.SKIPPED)} skipped",
    ]
    if result.count(Status.UP_TO_DATE):
        parts.append(f"{result.count(Status.UP_TO_DATE)} built meanwhile by another process")
    line = ", ".join(parts) + f" in {result.seconds:.2f}s"
    (out if result.ok else err).print(line, markup=False)
    for outcome in result.outcomes:
        if outcome.status is Status.UP_TO_DATE and outcome.error:
            out.print(f"{outcome.address}: {outcome.error}", markup=False)
        if outcome.status is Status.FAILED and outcome.error:
            named = str(outcome.address) in outcome.error.split("\n", 1)[0]
            err.print(outcome.error if named else f"{outcome.address}: {outcome.error}", markup=False)


@app.command()
def build(
    selectors: SelectorArgs = None,
    mesh: MeshPath = Path("."),
    full_refresh: Annotated[bool, typer.Option("--full-refresh", help="Rebuild even up-to-date products.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Products built at once.")] = 2,
    engine: Annotated[str | None, typer.Option(help="Override each product's engine for this run.")] = None,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Build as this user (default $MESHPLANE_USER): owners only.")
    ] = None,
) -> None:
    """Build stale products in dependency order: transform, check the contract, publish atomically."""
    with open_mesh(mesh, isolate=True) as opened:
        blocked = not selectors and bool(opened.blocked)
        the_plan = opened.plan(selectors, full_refresh=full_refresh, engine=engine)
        if not the_plan:
            out.print("up to date: nothing to build")
            if blocked and report_blocked(opened.blocked, opened.root):
                raise typer.Exit(1)
            return
        progress = _Progress([item.address for item in the_plan.items])
        with Live(progress.table(), console=out, refresh_per_second=8, transient=False) as live:
            progress.live = live
            result = opened.build_plan(the_plan, jobs=jobs, events=progress, as_user=as_user)
            live.update(progress.table())
        out.print()
        _summary(result)
        if blocked:
            report_blocked(opened.blocked, opened.root)
        if not result.ok or blocked:
            raise typer.Exit(1)


@app.command()
def runs(
    product: Annotated[str | None, typer.Argument(help="Only this product's runs.")] = None,
    mesh: MeshPath = Path("."),
    limit: Annotated[int, typer.Option(help="How many runs, newest first.")] = 50,
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
    as_user: Annotated[
        str | None, typer.Option("--as", help="Show the runs as this user sees them (default $MESHPLANE_USER).")
    ] = None,
) -> None:
    """The build history: run id, product, start, end, status, rows, snapshot, error.

    Error text is shown for the products the acting user owns; others' errors are reduced to their kind, as
    in the REST API and the portal."""
    with open_mesh(mesh) as opened:
        viewer = opened.access.viewer(as_user)
        raw = opened.runs(product, limit)
        records = opened.discovery.runs_shown_to(viewer, raw)
        if any(shown.error != run.error for shown, run in zip(records, raw, strict=True)):
            err.print(OWNER_DETAILS_HINT.format(user=viewer.username), markup=False)
        rows = [
            {
                "run_id": r.run_id,
                "product": r.product,
                "status": r.status.value,
                "started": r.started_at.isoformat(timespec="seconds"),
                "ended": r.ended_at.isoformat(timespec="seconds") if r.ended_at else "",
                "rows": "" if r.rows_written is None else str(r.rows_written),
                "snapshot": r.snapshot_id or "",
                "engine": r.engine,
                "error": (r.error or "")[:200],
            }
            for r in records
        ]
        print_rows(rows, format)


@app.command()
def schedule(
    mesh: MeshPath = Path("."),
    interval: Annotated[float, typer.Option(help="Seconds between checks for due products.")] = 30.0,
    once: Annotated[bool, typer.Option("--once", help="Build what is due now, then exit.")] = False,
) -> None:
    """Run scheduled builds in a loop: each product whose cron ticked since its last build, once."""
    with open_mesh(mesh) as opened:
        if once:
            due, plan = opened.plan_due()
            stale = {item.address for item in plan.items}
            for product in (d.address for d in due if d.address not in stale):
                out.print(f"{product}: up to date (its sources and inputs have not changed since its last build)")
            result = opened.build_plan(plan, trigger="schedule") if plan else None
            out.print(f"{len(result.outcomes) if result else 0} scheduled product(s) built")
            if result is not None:
                _summary(result)
                if not result.ok:
                    raise typer.Exit(1)
            return
        from meshplane.workspace.logs import configure_json_logs

        configure_json_logs()  # one JSON line per round and per build on stderr: the scheduler is never silent
        out.print(f"scheduler running every {interval:.0f}s; Ctrl-C stops it")
        opened.run_scheduler(interval=interval)


@app.command()
def publish(mesh: MeshPath = Path(".")) -> None:
    """Sync the mesh's specs into the catalog (every build does this too)."""
    with open_mesh(mesh) as opened:
        opened.publish()
        out.print(f"published {len(opened.graph.products)} products to {opened.platform.catalog.url}")


@app.command()
def maintain(
    selectors: SelectorArgs = None,
    mesh: MeshPath = Path("."),
    min_file_age: Annotated[
        float, typer.Option(help="Never delete files younger than this many seconds (a build may be staging them).")
    ] = 3600.0,
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
    relocate: Annotated[
        bool,
        typer.Option(
            "--relocate",
            help="After moving or copying the mesh folder: rewrite every table's Iceberg metadata so its paths "
            "lie in this folder's warehouse (a new metadata version per table); nothing else is done.",
        ),
    ] = False,
) -> None:
    """Enforce contracts' retention, compact small files, expire old snapshots (platform.history) and delete files
    nothing refers to."""
    if relocate:
        _relocate(mesh, format)
        return
    with open_mesh(mesh) as opened:
        report = opened.maintain(selectors, min_file_age=min_file_age)
    if format is OutputFormat.json:
        out.print_json(json.dumps([p.as_dict() for p in report.ports]))
    else:
        rows = [
            {
                "port": str(p.port),
                "retention": p.retention_problem
                or (f"{p.retention.deleted_rows} row(s) deleted" if p.retention else "none declared"),
                "compacted": f"{p.compaction.rewritten} -> {p.compaction.written} file(s)"
                if p.compaction and p.compaction.snapshot_id is not None
                else "",
                "expired snapshots": str(len(p.expiry.expired) if p.expiry else 0),
                "files removed": str(p.expiry.removed_files if p.expiry else 0),
                "error": p.error or "",
            }
            for p in report.ports
        ]
        print_rows(rows, format)
    if not report.ok:
        raise typer.Exit(1)


def _relocate(mesh: Path, format: OutputFormat) -> None:
    with open_mesh(mesh) as opened:
        moved = opened.relocate()
    rows = [
        {"table": str(m.table_id), "snapshots": str(m.snapshots), "manifests": str(m.manifests),
         "from": m.old_location, "to": m.new_location}
        for m in moved
    ]  # fmt: skip
    if format is OutputFormat.json:
        out.print_json(json.dumps(rows))
    elif not rows:
        out.print("every table already lies in this warehouse: nothing to relocate")
    else:
        print_rows(rows, format)
