"""What every CLI module shares: the Typer app, the consoles and common options."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

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
    "safe_text",
]

app = typer.Typer(
    name="meshplane",
    help="Self-serve data mesh: build, govern, discover and query data products as code.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
new_app = typer.Typer(help="Scaffold a domain, a source or a data product.", no_args_is_help=True)
app.add_typer(new_app, name="new")

# Terminal control characters (C0 but tab and newline, DEL, C1) and bidirectional overrides: mesh text is
# written by many people, and an escape sequence in a description must not retitle, recolour or rewrite
# the reader's terminal, nor reorder what they read.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe_text(text: str) -> str:
    """``text`` with every terminal control character shown as a visible escape (``\\x1b``)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        text)  # fmt: skip


class SafeConsole(Console):
    """A Rich console that never writes a control character from the text it is given: every string it
    renders (printed, in table cells, in error messages) passes :func:`safe_text` first; Rich's own styling
    is added after."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe_text(text), **kwargs)


# Piped output (CI logs, `| less`) gets wide lines instead of Rich's 80-column default.
out = SafeConsole(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = SafeConsole(stderr=True, highlight=False, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


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


OWNER_DETAILS_HINT = (
    "note: error text and failing rows are shown to the product's owner team only; {user} is not in it "
    "(act as an owner with --as USER or MESHPLANE_USER)"
)


def open_mesh(path: Path, *, isolate: bool = False) -> Mesh:
    """Open the mesh at ``path`` (see :meth:`Mesh.open`). The workspace (specs, graph, sqlglot, ...) is imported
    here, on first use, so `meshplane --help` and each command import only what they run."""
    from meshplane.workspace import Mesh

    return Mesh.open(path, isolate=isolate)
