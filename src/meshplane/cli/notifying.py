"""`meshplane notify deliver | inbox | log`: the notification outbox, its deliverer and the delivery log."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated

import typer

from meshplane.cli.common import MeshPath, OutputFormat, app, open_mesh, out, print_rows

__all__ = ["notify_app"]

notify_app = typer.Typer(help="Notifications: deliver the outbox, read an inbox, inspect the delivery log.",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(notify_app, name="notify")


@notify_app.command("deliver")
def deliver(
    mesh: MeshPath = Path("."),
    loop: Annotated[bool, typer.Option("--loop", help="Keep delivering until interrupted.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds with --loop.")] = 5.0,
    scan: Annotated[
        bool,
        typer.Option(
            "--scan/--no-scan", help="Also look for expiring access, approaching deprecation dates and SLOs at risk."
        ),
    ] = True,
) -> None:
    """Attempt every due delivery (webhooks, e-mail); failures are retried later with exponential backoff."""
    with open_mesh(mesh) as opened:
        if loop:
            from meshplane.workspace.logs import configure_json_logs

            configure_json_logs()
            stop = threading.Event()
            out.print(f"delivering notifications every {interval:.0f}s (Ctrl-C stops)")
            try:
                opened.run_deliverer(interval=interval, stop=stop.is_set, sleep=stop.wait)
            except KeyboardInterrupt:
                stop.set()
            return
        report = opened.deliver_notifications(scan=scan)
        out.print(f"{report.delivered} delivered, {report.retrying} to retry, {report.failed} given up")


@notify_app.command("inbox")
def inbox(
    user: Annotated[str, typer.Argument(help="A user of the mesh.")],
    mesh: MeshPath = Path("."),
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """What concerns USER: notifications to them, their teams and their teams' products."""
    with open_mesh(mesh) as opened:
        records = opened.notifications.inbox(user, limit)
        if format is OutputFormat.json:
            print(json.dumps([{"id": r.id, "kind": r.kind, "at": r.created_at.isoformat(), "subject": r.subject,
                               "title": r.title, "details": r.payload.get("details", {})} for r in records],
                             indent=2, default=str))  # fmt: skip
            return
        print_rows([{"at": r.created_at.isoformat(timespec="seconds"), "kind": r.kind, "title": r.title}
                    for r in records], format)  # fmt: skip


@notify_app.command("log")
def delivery_log(
    mesh: MeshPath = Path("."),
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """Every delivery and its attempts: channel, subscriber, status, attempts, last error."""
    with open_mesh(mesh) as opened:
        store = opened.notifications.store
        rows = [
            {"delivery": d.id, "notification": d.notification_id, "channel": d.channel, "subscriber": d.subscriber,
             "status": d.status, "attempts": str(d.attempts), "error": d.last_error or ""}
            for d in store.deliveries()
        ]  # fmt: skip
        print_rows(rows, format)
