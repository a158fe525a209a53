"""The ``meshplane`` command: a thin Typer view over :mod:`meshplane.workspace`.

One error boundary (:func:`main`) turns every :class:`~meshplane.errors.MeshError` into clear located lines
and an exit code; ``--debug`` re-raises to show the traceback.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer._click import exceptions as click_exceptions  # Typer vendors its own Click

from meshplane.cli.common import MeshPath, OutputFormat, Selectors, app, err, new_app, open_mesh, out, print_rows
from meshplane.errors import MeshError, SpecError, UsageError

if TYPE_CHECKING:
    from meshplane.workspace import CheckReport

__all__ = ["app", "main"]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
) -> None:
    """meshplane: data products as code."""


def check_mesh(path: Path) -> CheckReport:
    """The workspace's check, imported on use (start-up imports only what a command runs)."""
    from meshplane.workspace import check_mesh as check

    return check(path)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new mesh (created if missing).")],
    name: Annotated[str | None, typer.Option(help="Mesh name (default: the folder's name).")] = None,
) -> None:
    """Create a new mesh that passes `meshplane check`."""
    from meshplane.cli.governance import standard_pack
    from meshplane.spec.scaffold import new_mesh

    directory.mkdir(parents=True, exist_ok=True)
    for path in new_mesh(directory, name, policies=standard_pack()):
        out.print(f"created {path}")
    out.print(f"next: meshplane new domain NAME --mesh {directory}")


@new_app.command("domain")
def new_domain_command(
    name: Annotated[str, typer.Argument(help="Domain name, lower_snake_case.")],
    owner: Annotated[str | None, typer.Option(help="Owner team (declared in mesh.yaml if missing).")] = None,
    mesh: MeshPath = Path("."),
) -> None:
    """Add a domain (and its owner team) to the mesh."""
    from meshplane.spec.scaffold import new_domain

    for path in new_domain(mesh, name, owner):
        out.print(f"created {path}")


@new_app.command("source")
def new_source_command(
    address: Annotated[str, typer.Argument(help="DOMAIN/NAME of the new source.")],
    file_format: Annotated[str, typer.Option("--format", help="parquet, csv or json.")] = "csv",
    mesh: MeshPath = Path("."),
) -> None:
    """Scaffold a source contract: where a domain's raw files are and which columns they hold."""
    from meshplane.spec.scaffold import new_source

    domain, sep, name = address.replace(".", "/").partition("/")
    if not sep or not name:
        raise UsageError(f"{address!r}: write DOMAIN/NAME, e.g. podcasts/listens")
    for path in new_source(mesh, domain, name, file_format):
        out.print(f"created {path}")


@new_app.command("product")
def new_product_command(
    address: Annotated[str, typer.Argument(help="DOMAIN/NAME of the new product.")],
    mesh: MeshPath = Path("."),
) -> None:
    """Scaffold a product: product.odps.yaml, one port contract and its SQL transform."""
    from meshplane.spec.scaffold import new_product

    domain, sep, name = address.replace(".", "/").partition("/")
    if not sep or not name:
        raise UsageError(f"{address!r}: write DOMAIN/NAME, e.g. podcasts/listening_insights")
    for path in new_product(mesh, domain, name):
        out.print(f"created {path}")


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="The mesh folder, or a file or folder inside a mesh.")] = Path("."),
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
) -> None:
    """Validate every file and reference of a mesh. Exit 0 clean, 1 problems found, 2 usage error.

    Given a file or a folder inside a mesh, checks the mesh that holds it and reports that file's problems."""
    path, only = _mesh_holding(path)
    report = check_mesh(path)
    if report.graph is not None:  # breaking contract changes without a major bump, against the catalog
        from meshplane.workspace.compatibility import breaking_change_problems

        report.problems.extend(breaking_change_problems(path, report.graph))
    if report.graph is not None:  # check-time governance policies, located, the policy id as the code
        from meshplane.workspace.governing import governance_problems

        report.problems.extend(governance_problems(report.graph))
    if report.graph is not None and report.ok:  # input ports reading other domains' ports without an agreement
        from meshplane.workspace.platform import has_catalog

        if has_catalog(report.graph.spec):  # agreements live in the catalog
            from meshplane.workspace.agreeing import agreement_check

            report.problems.extend(agreement_check(report.graph))
        else:  # no catalog yet: no agreement was approved (check never creates one, nor loads its libraries)
            from meshplane.workspace.edge_checks import agreement_problems_without_catalog

            report.problems.extend(agreement_problems_without_catalog(report.graph))
    if report.spec is not None and report.spec.external_domains:
        from meshplane.workspace.repositories import own_problems

        report.problems = own_problems(report.root, report.problems)
    elsewhere = 0
    if only is not None:  # the problems of the file (or folder) asked about; the rest of the mesh is counted
        mine = [p for p in report.problems if p.location.path.resolve().is_relative_to(only)]
        elsewhere = sum(1 for p in report.problems if p.severity.value == "error") - sum(
            1 for p in mine if p.severity.value == "error"
        )
        report.problems = mine
    if format is OutputFormat.json:
        out.print_json(json.dumps(report.as_json()))
    else:
        for problem in report.problems:
            err.print(problem.render(report.root), markup=False)
        where = only.relative_to(report.root) if only is not None else report.root
        if report.ok:
            products = len(report.graph.products) if report.graph else 0
            found = (
                f"ok: {where}: no errors" if only is not None else f"ok: {where.name}: {products} products, no errors"
            )
            out.print(found, markup=False)
        else:
            err.print(f"{len(report.errors)} error(s) in {where}", markup=False)
        if elsewhere:
            err.print(f"({elsewhere} more error(s) elsewhere in the mesh: meshplane check {report.root})", markup=False)
    if not report.ok:
        raise typer.Exit(1)


def _mesh_holding(path: Path) -> tuple[Path, Path | None]:
    """(the mesh folder to check, the file or folder inside it to report on, None for the whole mesh)."""
    target = path.resolve()
    if target.is_dir() and (target / "mesh.yaml").is_file():
        return path, None
    for folder in target.parents:
        if (folder / "mesh.yaml").is_file():
            return folder, target
    return path, None  # not inside a mesh: check_mesh says so


class LsKind(StrEnum):
    products = "products"
    domains = "domains"
    ports = "ports"


@app.command("ls")
def ls_command(
    kind: Annotated[LsKind, typer.Argument()] = LsKind.products,
    mesh: MeshPath = Path("."),
    format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.text,
    select: Selectors = None,
) -> None:
    """List the mesh's products, domains or ports."""
    from meshplane.types import Address

    opened = open_mesh(mesh)
    graph = opened.graph
    chosen = set(opened.select(select))
    rows: list[dict[str, str]]
    if kind is LsKind.domains:
        rows = [
            {
                "domain": d.name,
                "owner": d.config.owner,
                "products": str(sum(1 for p in graph.products if p.domain == d.name)),
            }
            for d in opened.spec.domains
        ]
    elif kind is LsKind.products:
        rows = [
            {
                "product": str(a),
                "version": p.version,
                "status": p.status,
                "owner": p.team,
                "ports": ", ".join(port.name for port in (*p.output_ports, *p.described_ports)),
            }
            for a, p in sorted(graph.products.items())
            if a in chosen
        ]
    else:
        rows = [
            {
                "port": str(a),
                "version": port.version,
                "access": port.access_level.value,
                "columns": str(len(port.contract.columns)),
            }
            for a, port in sorted(
                [*graph.ports.items(),
                 *((Address(a.domain, a.product, d.name), d) for a, p in graph.products.items()
                   for d in p.described_ports)],  # ports it does not build (topics, APIs) are ports all the same
                key=lambda item: item[0],
            )
            if a.product_address in chosen
        ]  # fmt: skip
    print_rows(rows, format)


@app.command()
def graph(mesh: MeshPath = Path("."), select: Selectors = None) -> None:
    """Show the dependencies between products, across domains."""
    opened = open_mesh(mesh)
    g = opened.graph
    for address in opened.select(select):
        product = g.products[address]
        out.print(f"[bold]{address}[/bold]  ({product.team})")
        for edge in g.edges[address]:
            if edge.upstream_port is not None:
                cross = "  [cross-domain]" if edge.upstream_port.domain != address.domain else ""
                out.print(f"  ← {edge.input.name}: {edge.upstream_port}{cross}", markup=False)
            elif edge.source is not None:
                out.print(f"  ← {edge.input.name}: source {edge.source.id}", markup=False)


def _report_error(error: MeshError) -> None:
    if isinstance(error, SpecError):
        root = Path.cwd()
        for problem in error.problems:
            err.print(problem.render(root), markup=False)
        err.print(f"{len(error.problems)} error(s)", markup=False)
    else:
        err.print(f"error: {error}", markup=False)


def _register_commands() -> None:
    """Import the modules whose commands attach themselves to ``app``."""
    from meshplane.cli import (  # noqa: F401
        access,
        agents,
        agreements,
        building,
        contracts,
        credentials,
        demo,
        governance,
        notifying,
        serving,
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point and the CLI's one error boundary."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _register_commands()
    try:
        command = typer.main.get_command(app)
        result = command.main(args=args, prog_name="meshplane", standalone_mode=False)
    except MeshError as error:
        if debug:
            raise
        _report_error(error)
        sys.exit(error.exit_code)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except click_exceptions.ClickException as usage:
        if debug:
            raise
        usage.show()
        sys.exit(2)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as error:  # the boundary: no traceback reaches a user without --debug
        if debug:
            raise
        err.print(f"internal error: {type(error).__name__}: {error}", markup=False)
        err.print("this is a bug in meshplane; rerun with --debug for the traceback", markup=False)
        sys.exit(3)
    sys.exit(result if isinstance(result, int) else 0)
