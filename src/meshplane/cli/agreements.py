"""`meshplane agreement ...`: data usage agreements between products (what a product's build may read).

A member of the consuming product's owner team requests; the port's deciders approve (with an optional row
filter), deny or revoke with the same ids as `meshplane access`; everything is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meshplane.cli.access import AsUser, _user, _when
from meshplane.cli.common import MeshPath, OutputFormat, app, open_mesh, out, print_rows

__all__ = ["agreement_app"]

agreement_app = typer.Typer(help="Data usage agreements: which other domains' ports a product's build may read.",
                            no_args_is_help=True)  # fmt: skip
app.add_typer(agreement_app, name="agreement")


def _names(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


@agreement_app.command("request")
def request(
    product: Annotated[str, typer.Argument(help="The consuming product, domain.product.")],
    port: Annotated[str, typer.Argument(help="The port it reads, domain.product.port.")],
    purpose: Annotated[
        str, typer.Option("--purpose", help="Why the product needs the data (audited); default: the input port's.")
    ] = "",
    columns: Annotated[
        str | None, typer.Option("--columns", help="Only these columns, comma separated; default: the input port's.")
    ] = None,
    unmasked: Annotated[
        str | None, typer.Option("--unmasked", help="Columns to read unmasked (policies may forbid it).")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Expiry: a date (through that day) or a time.")] = None,
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Ask the port's owners for an agreement (a member of the product's owner team asks)."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        made = opened.access.request_agreement(user, product, port, purpose, _names(columns), until, _names(unmasked))
    if made.status.value == "approved":
        out.print(f"agreement {made.id}: approved at once ({made.note or 'auto-approval'})", markup=False)
    else:
        out.print(f"agreement {made.id}: pending; the owners of {made.port} decide with "
                  f"`meshplane agreement approve {made.id}`", markup=False)  # fmt: skip


@agreement_app.command("list")
def list_agreements(
    product: Annotated[str | None, typer.Argument(help="Only this consuming product's agreements.")] = None,
    port: Annotated[str | None, typer.Option("--port", help="Only agreements to read this port.")] = None,
    mesh: MeshPath = Path("."),
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """Agreements and agreement requests, newest first."""
    with open_mesh(mesh) as opened:
        views = opened.access.list_agreements(product, port)
    rows = [
        {
            "id": v.id,
            "state": v.state,
            "product": v.product,
            "port": v.request.port,
            "requested_by": v.request.requester,
            "purpose": v.request.purpose,
            "columns": ",".join(v.request.columns) or "*",
            "unmasked": ",".join(v.request.unmasked),
            "until": _when(v.request.until),
            "row_filter": v.request.row_filter or "",
            "decided_by": v.request.decided_by or "",
        }
        for v in views
    ]
    print_rows(rows, format)


@agreement_app.command("approve")
def approve(
    agreement_id: Annotated[str, typer.Argument(metavar="ID", help="The agreement id (from `agreement list`).")],
    row_filter: Annotated[str | None, typer.Option("--row-filter", help="Only rows where this holds.")] = None,
    note: Annotated[str, typer.Option(help="A note for the audit log.")] = "",
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Approve a pending agreement (the port's owners, the contract's approvers or the governance team)."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        grant = opened.access.approve(user, agreement_id, row_filter, note)
    rows = f"rows where {grant.row_filter}" if grant.row_filter else "all rows"
    expiry = f", until {_when(grant.expires_at)} UTC" if grant.expires_at else ""
    out.print(f"approved: {grant.grantee} may read {grant.port} in its builds ({rows}{expiry})", markup=False)


@agreement_app.command("deny")
def deny(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str, typer.Option(help="Why (recorded in the audit log).")] = "",
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Deny a pending agreement."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        made = opened.access.deny(user, agreement_id, note)
    out.print(f"denied: agreement {made.id} for {made.product} to read {made.port}", markup=False)


@agreement_app.command("revoke")
def revoke(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str, typer.Option(help="Why (recorded in the audit log).")] = "",
    as_user: AsUser = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Revoke an agreement: the consuming product's next build is refused until a new one is approved."""
    user = _user(as_user)
    with open_mesh(mesh) as opened:
        made = opened.access.revoke(user, agreement_id, note)
    out.print(f"revoked: {made.product} may no longer read {made.port}; its next build is refused", markup=False)
