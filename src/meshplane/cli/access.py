"""`meshplane access ...` (requests, grants, spec-change approvals) and `meshplane query`.

The acting user is ``--as USER`` or ``$MESHPLANE_USER``. The local CLI trusts whoever runs it (they can
read the mesh's files anyway); the REST API authenticates users with API tokens instead.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from meshplane.cli.common import MeshPath, OutputFormat, app, err, open_mesh, out, print_rows
from meshplane.errors import QueryRejected, QuerySyntaxError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["access_app", "query"]

access_app = typer.Typer(help="Request, approve, deny and revoke access to ports.", no_args_is_help=True)
app.add_typer(access_app, name="access")

AsUser = Annotated[
    str | None,
    typer.Option("--as", help="Act as this user (default: $MESHPLANE_USER).", show_default=False),
]
_MAX_TABLE_ROWS = 100


def _user(explicit: str | None) -> str:
    from meshplane.access.principals import acting_user

    user = acting_user(explicit)
    if not user:
        raise UsageError("say who you are: pass --as USER or set MESHPLANE_USER")
    return user


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


@access_app.command("request")
def request(
    port: Annotated[str, typer.Argument(help="The port, domain.product.port.")],
    purpose: Annotated[str, typer.Option("--purpose", help="Why you need the data (recorded and audited).")],
    columns: Annotated[str | None, typer.Option("--columns", help="Only these columns, comma separated.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Expiry: a date (through that day) or a time.")] = None,
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Ask the port's owners for read access."""
    user = _user(as_user)
    wanted = [c.strip() for c in (columns or "").split(",") if c.strip()]
    with open_mesh(mesh) as opened:
        made = opened.access.request_access(user, port, purpose, wanted, until)
    if made.status.value == "approved":
        out.print(f"request {made.id}: approved at once ({made.note or 'auto-approval'})", markup=False)
    else:
        out.print(f"request {made.id}: pending; the owners of {made.port} decide with "
                  f"`meshplane access approve {made.id}`", markup=False)  # fmt: skip


@access_app.command("list")
def list_requests(
    pending: Annotated[bool, typer.Option("--pending", help="Only requests waiting for a decision.")] = False,
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """Your requests, and the requests you may decide on."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        views = opened.access.list_requests(user, pending=pending)
    rows = [
        {
            "id": v.request.id,
            "state": v.state,
            "port": v.request.port,
            "requester": v.request.requester,
            "purpose": v.request.purpose,
            "columns": ",".join(v.request.columns) or "*",
            "until": _when(v.request.until),
            "row_filter": v.request.row_filter or "",
            "decided_by": v.request.decided_by or "",
            "yours_to_decide": "yes" if v.may_decide and v.state == "pending" else "",
        }
        for v in views
    ]
    print_rows(rows, format)


@access_app.command("approve")
def approve(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id (from `access list`).")],
    row_filter: Annotated[
        str | None, typer.Option("--row-filter", help="Only rows where this holds, e.g. \"country_code = 'GB'\".")
    ] = None,
    note: Annotated[str, typer.Option(help="A note for the audit log.")] = "",
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Approve a pending request (port owners, the contract's approvers, or the governance team)."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        grant = opened.access.approve(user, request_id, row_filter, note)
    limits = f" rows where {grant.row_filter}" if grant.row_filter else " all rows"
    expiry = f", until {_when(grant.expires_at)} UTC" if grant.expires_at else ""
    out.print(f"approved: {grant.grantee} may read {grant.port} ({limits.strip()}{expiry})", markup=False)


@access_app.command("deny")
def deny(
    request_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str, typer.Option(help="Why (shown to the requester, recorded).")] = "",
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Deny a pending request."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        denied = opened.access.deny(user, request_id, note)
    out.print(f"denied request {denied.id} of {denied.requester} for {denied.port}", markup=False)


@access_app.command("revoke")
def revoke(
    request_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str, typer.Option(help="Why (recorded).")] = "",
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Revoke a grant (its deciders), or withdraw your own request or grant."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        revoked = opened.access.revoke(user, request_id, note)
    out.print(f"revoked request {revoked.id}: {revoked.requester} no longer reads {revoked.port}", markup=False)


@access_app.command("changes")
def changes(
    product: Annotated[str | None, typer.Argument(help="One product (default: the whole mesh).")] = None,
    mesh: MeshPath = Path("."),
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """Spec changes that loosen access and wait for the owner's (or governance team's) approval."""
    with open_mesh(mesh) as opened:
        pending = opened.access.spec_changes(product)
    rows = [{"change": c.id, "product": c.product, "kind": c.kind.value, "description": c.describe()} for c in pending]
    print_rows(rows, format)


@access_app.command("approve-change")
def approve_change(
    product: Annotated[str, typer.Argument(help="The product, domain.product.")],
    change_id: Annotated[str, typer.Argument(metavar="CHANGE", help="The change id (from `access changes`).")],
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Approve a spec change (the product's current owner team or the governance team)."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        change = opened.access.approve_spec_change(user, product, change_id)
    out.print(f"approved change {change.id}: {change.describe()}", markup=False)


class QueryFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One read-only query; name ports by address.")],
    as_user: AsUser = None,
    format: Annotated[QueryFormat, typer.Option("--format", "-f")] = QueryFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the result to this file.")] = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Query ports across domains as a consumer: only granted columns and rows, masks applied, audited."""
    user = _user(as_user)
    if format is QueryFormat.parquet and output is None:
        raise UsageError("--format parquet writes a file: add --output FILE")
    from meshplane.workspace.access import warm_up_queries

    warm_up_queries()  # the query process starts while the mesh loads
    with open_mesh(mesh) as opened:
        try:
            result = opened.access.query(user, sql)
        except QuerySyntaxError as error:  # the user's own text, shown back with a caret at the place
            from meshplane.sql import caret  # sqlglot: loaded only when a query is sent

            raise QueryRejected(f"{error}{caret(sql, error.line, error.column)}") from None
    _write_result(result.table, format, output)
    if output is not None:
        err.print(f"{result.rows:,} rows written to {output} ({result.duration_ms:.0f} ms)", markup=False)
    elif format is QueryFormat.table:
        err.print(f"{result.rows:,} rows ({result.duration_ms:.0f} ms)", markup=False)


def _write_result(table: pa.Table, format: QueryFormat, output: Path | None) -> None:
    if format is QueryFormat.parquet:
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        pq.write_table(table, str(output))
        return
    if format is QueryFormat.csv:
        import pyarrow.csv as pcsv  # type: ignore[import-untyped, unused-ignore]

        buffer = io.BytesIO()
        pcsv.write_csv(table, buffer)
        _emit(buffer.getvalue().decode("utf-8"), output)
        return
    if format is QueryFormat.json:
        text = "\n".join(json.dumps(row, default=str, ensure_ascii=False) for row in table.to_pylist())
        _emit(text + ("\n" if text else ""), output)
        return
    if output is not None:
        raise UsageError("--format table prints to the terminal; use csv, json or parquet with --output")
    shown = table.slice(0, _MAX_TABLE_ROWS)
    rendered = Table(*table.column_names, box=None, pad_edge=False)
    for row in shown.to_pylist():
        rendered.add_row(*(_cell(value) for value in row.values()))
    out.print(rendered)
    if table.num_rows > _MAX_TABLE_ROWS:
        err.print(f"(first {_MAX_TABLE_ROWS} of {table.num_rows:,} rows; use --format csv for all)", markup=False)


def _cell(value: Any) -> str:
    from rich.markup import escape

    return "" if value is None else escape(str(value))


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")
