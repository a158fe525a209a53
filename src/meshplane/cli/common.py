"""What every CLI module shares: the Typer app, the consoles and common options."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from meshplane.types import Problem

if TYPE_CHECKING:
    from meshplane.workspace import Mesh

__all__ = [
    "MeshPath",
    "OutputFormat",
    "Selectors",
    "app",
    "err",
    "new_app",
    "open_mesh",
    "out",
    "print_rows",
    "report_blocked",
]

app = typer.Typer(
    name="meshplane",
    help="Self-serve data mesh: build, govern, discover and query data products as code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
new_app = typer.Typer(help="Scaffold a domain or a data product.", no_args_is_help=True)
app.add_typer(new_app, name="new")

# Piped output (CI logs, `| less`) gets wide lines instead of Rich's 80-column default.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


MeshPath = Annotated[Path, typer.Option("--mesh", "-m", help="The mesh folder.", show_default=False)]
Selectors = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        "-s",
        help="Products to show: DOMAIN, DOMAIN.PRODUCT, +X (with upstream), X+ (with downstream).",
        show_default=False,
    ),
]


def print_rows(rows: list[dict[str, str]], format: OutputFormat) -> None:
    """A list of flat records as a table (text) or a JSON array."""
    if format is OutputFormat.json:
        out.print_json(json.dumps(rows))
        return
    if not rows:
        out.print("(none)")
        return
    table = Table(*rows[0].keys(), box=None, pad_edge=False)
    for row in rows:
        table.add_row(*row.values())
    out.print(table)


def report_blocked(blocked: Mapping[str, tuple[Problem, ...]], root: Path) -> bool:
    """Print what spec errors left out of a whole-mesh run (see Mesh.open(isolate=True)); True if anything."""
    if not blocked:
        return False
    seen: list[Problem] = []
    for found in blocked.values():
        seen.extend(p for p in found if p not in seen)
    for problem in seen:
        err.print(problem.render(root), markup=False)
    err.print("blocked by spec errors (the rest ran): " + ", ".join(sorted(blocked)), markup=False)
    return True


def open_mesh(path: Path, *, isolate: bool = False) -> Mesh:
    """Open the mesh at ``path`` (see :meth:`Mesh.open`). The workspace (specs, graph, sqlglot, ...) is imported
    here, on first use, so `meshplane --help` and each command import only what they run."""
    from meshplane.workspace import Mesh

    return Mesh.open(path, isolate=isolate)
