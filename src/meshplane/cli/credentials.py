"""`meshplane platform s3-policy | grant-builder`: per-domain builder credentials the storage enforces.

meshplane already builds only a repository's own domains; these give each domain's CI credentials with which
the bucket and the catalog database refuse anything else, so a compromised or mistaken build cannot publish
into another domain either (docs/deployment.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from meshplane.cli.common import MeshPath, app, open_mesh, out

__all__ = ["platform_app"]

platform_app = typer.Typer(help="Platform set-up: per-domain builder credentials.", no_args_is_help=True)
app.add_typer(platform_app, name="platform")


@platform_app.command("s3-policy")
def s3_policy(
    domain: Annotated[str, typer.Argument(help="The domain whose builder key the policy is for.")],
    mesh: MeshPath = Path("."),
) -> None:
    """Print the IAM policy for DOMAIN's builder key: read the warehouse, write only DOMAIN's tables."""
    with open_mesh(mesh) as opened:
        out.print_json(json.dumps(opened.platform.builder_s3_policy(domain)))


@platform_app.command("grant-builder")
def grant_builder(
    domain: Annotated[str, typer.Argument(help="The domain the role may publish.")],
    role: Annotated[str, typer.Argument(help="The PostgreSQL login role of DOMAIN's builder (its CI job).")],
    mesh: MeshPath = Path("."),
) -> None:
    """Let a PostgreSQL role build DOMAIN: row-level security keeps it to DOMAIN's table pointers.

    Run once per domain as the catalog database's owner (the platform team's MESHPLANE_CATALOG_URL)."""
    with open_mesh(mesh) as opened:
        opened.platform.grant_builder(domain, role)
    out.print(f"{role} may now publish {domain}'s tables, and no other domain's")
