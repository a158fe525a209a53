"""`meshplane mcp`: the mesh for AI agents over the Model Context Protocol, on stdin/stdout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from meshplane.cli.common import MeshPath, app
from meshplane.errors import UsageError


@app.command()
def mcp(
    mesh: MeshPath = Path("."),
    as_user: Annotated[str | None, typer.Option("--as", help="Act as this user (default $MESHPLANE_USER).")] = None,
    token: Annotated[str | None, typer.Option(envvar="MESHPLANE_TOKEN", help="Act as this API token's user.")] = None,
) -> None:
    """Serve the mesh to an MCP client (an AI agent) on stdio, acting as one user.

    The agent's tools (search, describe, grants, request access, governed query) do what that user could do
    with the CLI, no more. Configure a client with: meshplane mcp --mesh PATH --as USER (or MESHPLANE_TOKEN).
    """
    from meshplane.access.principals import acting_user
    from meshplane.agents import build_server
    from meshplane.workspace import Mesh

    with Mesh.open(mesh) as opened:
        user = opened.access.user_for_token(token) if token else acting_user(as_user)
        if not user:
            raise UsageError("say who the agent acts as: --as USER, $MESHPLANE_USER, or a valid MESHPLANE_TOKEN")
        if opened.discovery.principal(user) is None:
            raise UsageError(f"{user} is not a user of this mesh; declare them in a team of mesh.yaml")
        try:
            build_server(opened, lambda: user).run("stdio")
        finally:
            opened.access.close()
