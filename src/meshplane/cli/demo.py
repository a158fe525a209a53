"""`meshplane demo`: copy the example meshes, generate their data, and run everything meshplane does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from meshplane.cli.building import build
from meshplane.cli.common import app, err, out
from meshplane.errors import UsageError

__all__ = ["demo", "examples_root"]

EXAMPLES = ("media", "pharma")


def examples_root() -> Path:
    """The examples shipped beside the package (a source checkout or an editable install)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "examples"
        if (candidate / "media" / "mesh.yaml").is_file():
            return candidate
    raise UsageError("the example meshes are not installed; run the demo from a meshplane source checkout")


def _copy_example(name: str, target: Path) -> Path:
    source = examples_root() / name
    destination = target / name
    if destination.exists():
        out.print(f"{destination} exists: reusing it")
        return destination
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    return destination


def _generate(mesh: Path, scale: float) -> None:
    script = mesh / "generate.py"
    if not script.is_file():
        return
    out.print(f"generating {mesh.name} source data (scale {scale:g})…")
    completed = subprocess.run(
        [sys.executable, str(script), "--scale", str(scale)], cwd=mesh, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise UsageError(f"{script} failed: {completed.stderr.strip().splitlines()[-1:] or completed.returncode}")


def _agree(mesh: Path) -> None:
    """The agreements the example products declare: each consuming team's owner asks, the producer's owner
    approves (in a real mesh, two people deciding on `meshplane agreement request` / `approve`)."""
    from meshplane.workspace import Mesh
    from meshplane.workspace.edges import agree_declared_as_owners

    with Mesh.open(mesh) as opened:
        for request, requester, approver in agree_declared_as_owners(opened.graph, opened.access):
            out.print(f"agreement {request.id}: {requester} asked for {request.product} to read {request.port}; "
                      f"{approver} approved", markup=False)  # fmt: skip


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to put the example meshes.")] = Path("demo-mesh"),
    scale: Annotated[float, typer.Option(help="Size of the generated data (1 = a million listening events).")] = 1.0,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the portal afterwards.")] = True,
    port: Annotated[int, typer.Option(help="Portal port.")] = 8000,
) -> None:
    """Copy the media and pharma examples, generate their data, check and build them, then serve the portal."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    from meshplane.workspace import check_mesh

    if serve:  # before minutes of work, not after: a busy port is refused at once
        from meshplane.cli import serving

        for p in (port, port + 1):
            serving.assert_port_free("127.0.0.1", p)
    meshes = [_copy_example(name, directory) for name in EXAMPLES]
    for mesh in meshes:
        started = time.perf_counter()
        _generate(mesh, scale)
        _agree(mesh)
        generated = time.perf_counter()
        report = check_mesh(mesh)
        for problem in report.problems:
            err.print(problem.render(report.root), markup=False)
        if not report.ok:
            raise typer.Exit(1)
        products = len(report.graph.products) if report.graph else 0
        out.print(f"[bold]{mesh.name}[/bold]: data generated in {generated - started:.0f} s; {products} products "
                  "check clean")  # fmt: skip
        build(selectors=None, mesh=mesh, full_refresh=False, jobs=2, engine=None, as_user=None)
        out.print(f"[bold]{mesh.name}[/bold]: ready in {time.perf_counter() - started:.0f} s")
    if serve:
        # The second mesh is served on the next port by a child process; the first in this one, until Ctrl-C.
        second = serving.serve_in_background(meshes[1], port + 1)
        try:
            serving.serve_mesh(meshes[0], port=port, announce=True)
        finally:
            second.terminate()
            second.wait(timeout=30)
