"""Source data as engine relations: the only raw reads of a build, declared in source contracts.

Upstream ports are never bound here: the workspace binds them through the access decision
(:mod:`meshplane.workspace.edges`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from meshplane.builds.plan import SourceStates, source_state
from meshplane.engines.base import ArrowRelation, FileRelation, Relation
from meshplane.errors import BuildError
from meshplane.graph import MeshGraph
from meshplane.spec import ContractSpec
from meshplane.storage import SnapshotInfo
from meshplane.types import Address

__all__ = ["source_relation"]

CurrentSnapshot = Callable[[Address, int], SnapshotInfo | None]


def _generate_hint(root: Path) -> str:
    script = root / "generate.py"
    if script.is_file():
        return f"create it with: python {script}"
    return "check the path in the source contract's servers entry"


def source_relation(graph: MeshGraph, source: ContractSpec, states: SourceStates | None = None) -> Relation:
    """``source`` as a relation; a file source reads the files ``states`` listed for it (listing them now, and
    keeping them there, when it has not), the files its build's fingerprint describes."""
    server = source.server
    if server is None:
        raise BuildError(f"{source.path}: source {source.id} has no servers entry")
    root = graph.spec.root
    if server.type == "local":
        assert server.path is not None and server.format is not None
        files = source_state(graph, source, states).files
        if not files:
            raise BuildError(
                f"source {source.id}: no files match {server.path} (declared in {source.path.relative_to(root)}); "
                + _generate_hint(root)
            )
        options: dict[str, str | int | float | bool] = {}
        if server.delimiter:
            options["delim"] = server.delimiter
        return FileRelation(paths=tuple(Path(f) for f in files), format=server.format, options=options)
    connection = graph.spec.config.connections.get(server.name)
    if connection is None:
        raise BuildError(
            f"source {source.id}: server {server.name!r} is not a connection in mesh.yaml; "
            f"add connections: {{{server.name}: {{env: SOME_ENV_VAR}}}}"
        )
    url = os.environ.get(connection.env)
    if not url:
        raise BuildError(
            f"source {source.id}: environment variable {connection.env} is not set; "
            "export it with the PostgreSQL connection URL (secrets never live in mesh files)"
        )
    from meshplane.engines.sources import read_postgres_table

    assert server.table is not None
    table = read_postgres_table(url, server.schema or "public", server.table)
    return ArrowRelation(table=table)
