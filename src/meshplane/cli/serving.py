"""`meshplane serve`, `search`, `lineage` and `token create`: the discovery commands.

The server is started through uvicorn's factory import string (``meshplane.server:app_from_env``), the
same way a production deployment runs it, so the CLI never imports the server package.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from meshplane.cli.common import MeshPath, OutputFormat, app, err, open_mesh, out
from meshplane.errors import MeshError, UsageError

if TYPE_CHECKING:
    from meshplane.workspace import Mesh
    from meshplane.workspace.discovery import DiscoveryService

__all__ = ["serve_mesh"]


@dataclasses.dataclass(frozen=True)
class PgOptions:
    """``meshplane serve --pg``: the PostgreSQL wire protocol beside the portal (meshplane.wire)."""

    enabled: bool = False
    port: int = 5433
    tls_cert: Path | None = None
    tls_key: Path | None = None


def start_wire(path: Path, options: PgOptions, host: str) -> Any:
    """Serve PostgreSQL clients from this supervising process until the returned handle is closed."""
    from meshplane.wire.server import serve_in_background

    handle = serve_in_background(path, host=host, port=options.port, tls_cert=options.tls_cert,
                                 tls_key=options.tls_key)  # fmt: skip
    tls = "TLS" if options.tls_cert else "loopback only, no TLS"
    out.print(f"PostgreSQL clients: postgresql://USER@{host}:{handle.port}/{Path(path).resolve().name} "
              f"(password: the user's API token; {tls})")  # fmt: skip
    return handle


token_app = typer.Typer(help="API tokens for the REST API and the portal.", no_args_is_help=True)
app.add_typer(token_app, name="token")

# Names the server package reads (meshplane.server.app.MESH_ENV / DEV_ENV / PUBLISHED_ENV).
_MESH_ENV, _DEV_ENV, _PUBLISHED_ENV = "MESHPLANE_SERVE_MESH", "MESHPLANE_SERVE_DEV", "MESHPLANE_SERVE_PUBLISHED"


def _discovery(path: Path) -> tuple[Mesh, DiscoveryService]:
    mesh = open_mesh(path)
    return mesh, mesh.discovery


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _demo_tokens(service: DiscoveryService) -> list[tuple[str, str, str]]:
    """One token for the first member of each team: (user, team, token)."""
    seen: set[str] = set()
    tokens = []
    for team in service.graph.spec.config.teams:
        member = next((m.username for m in team.members if m.username not in seen), None)
        if member is None:
            continue
        seen.add(member)
        token, _ = service.platform.catalog.writer.create_token(member, name="demo")
        tokens.append((member, team.name, token))
    # A consumer to follow the access story with: someone who owns nothing and holds no grant yet.
    reader = service.platform.catalog.reader
    for team in service.graph.spec.config.teams:
        for m in team.members:
            if m.username in seen or m.role in ("owner", "lead") or reader.grants(grantee=m.username):
                continue
            token, _ = service.platform.catalog.writer.create_token(m.username, name="demo")
            return [*tokens, (m.username, f"{team.name} (consumer, no grants yet)", token)]
    return tokens


def assert_port_free(host: str, port: int) -> None:
    """Refuse a busy port before printing any URL (uvicorn would only log an error after the banner)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is already in use (another meshplane serve?); choose one with --port"
                ) from None
            raise UsageError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def serve_in_background(path: Path, port: int) -> subprocess.Popen[bytes]:
    """``meshplane serve`` for another mesh in a child process (the demo serves both examples); its URL and
    a sign-in token per team (and one consumer) are printed here first."""
    mesh, service = _discovery(path)
    try:
        mesh.publish()
        out.print(f"[bold]meshplane portal[/bold] for {mesh.name}: http://127.0.0.1:{port}/")
        for user, team, token in _demo_tokens(service):
            out.print(f"  {user:<10} {team:<20} {token}")
    finally:
        mesh.close()
    command = [sys.executable, "-c", "from meshplane.cli.app import main; main()", "serve", "--mesh", str(path),
               "--port", str(port), "--dev", "--workers", "1"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def _start_scheduler(path: Path, interval: float) -> threading.Event:
    """Run scheduled builds beside the server (in this supervising process, once, whatever the workers)."""
    stop = threading.Event()

    def loop() -> None:
        try:
            with open_mesh(path) as mesh:
                mesh.run_scheduler(interval=interval, stop=stop.is_set, sleep=stop.wait)
        except MeshError as error:  # a broken mesh must not take the portal down with it
            err.print(f"scheduler stopped: {error}", markup=False)

    threading.Thread(target=loop, name="meshplane-scheduler", daemon=True).start()

    def deliver() -> None:
        try:
            with open_mesh(path) as mesh:
                mesh.run_deliverer(stop=stop.is_set, sleep=stop.wait)
        except MeshError as error:
            err.print(f"notification deliverer stopped: {error}", markup=False)

    # Notifications are delivered beside the scheduler: builds and queries only ever write the outbox.
    threading.Thread(target=deliver, name="meshplane-notify", daemon=True).start()
    return stop


def serve_mesh(path: Path, port: int = 8000, announce: bool = False, *, host: str = "127.0.0.1",
               dev: bool | None = None, workers: int | None = None, schedule: bool = True,
               schedule_interval: float = 30.0, pg: PgOptions | None = None) -> None:  # fmt: skip
    """Serve the portal and the API for the mesh at ``path`` until interrupted.

    ``announce`` (what ``meshplane demo`` asks for) prints the URL and a sign-in token per team, and turns on
    the portal's user switcher unless ``dev`` says otherwise. ``workers`` uvicorn processes (default: one per
    CPU) each build the app from the environment; the mesh is published once, here, before they start.
    """
    import uvicorn

    assert_port_free(host, port)
    mesh, service = _discovery(path)
    try:
        mesh.publish()
        dev_mode = announce if dev is None else dev
        url = f"http://{host}:{port}/"
        out.print(f"[bold]meshplane portal[/bold] for {mesh.name}: {url}  (API: {url}api/v1/openapi.json)")
        if announce:
            out.print("sign in with one of these tokens (or pick a user on the sign-in page: dev mode):")
            for user, team, token in _demo_tokens(service):
                out.print(f"  {user:<10} {team:<20} {token}")
        if dev_mode:
            out.print("[yellow]dev mode[/yellow]: anyone reaching this port may sign in as any user")
    finally:
        mesh.close()
    from meshplane.workspace.logs import configure_json_logs

    configure_json_logs()  # the scheduler and deliverer threads log each round, build and delivery as JSON lines
    os.environ[_MESH_ENV] = str(Path(path).resolve())
    os.environ[_DEV_ENV] = "1" if dev_mode else "0"
    os.environ[_PUBLISHED_ENV] = "1"
    stop = _start_scheduler(Path(path), schedule_interval) if schedule else None
    wire = start_wire(Path(path), pg, host) if pg is not None and pg.enabled else None
    if schedule:
        out.print(
            f"scheduled builds run every {schedule_interval:.0f}s and notifications are delivered while the "
            "server runs (--no-schedule: off)"
        )
    try:
        uvicorn.run("meshplane.server:app_from_env", factory=True, host=host, port=port, log_level="warning",
                    workers=max(1, workers or os.cpu_count() or 1))  # fmt: skip
    finally:
        if stop is not None:
            stop.set()
        if wire is not None:
            wire.close()


@app.command()
def serve(
    mesh: MeshPath = Path("."),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")] = "127.0.0.1",
    dev: Annotated[bool, typer.Option("--dev", help="Let the sign-in page switch users without a token.")] = False,
    workers: Annotated[int | None, typer.Option(help="Server processes (default: the number of CPUs).")] = None,
    schedule: Annotated[bool, typer.Option("--schedule/--no-schedule", help="Run scheduled builds too.")] = True,
    pg: Annotated[bool, typer.Option("--pg/--no-pg", help="Also serve PostgreSQL clients (wire protocol).")] = False,
    pg_port: Annotated[int, typer.Option(help="Port of the PostgreSQL wire protocol.")] = 5433,
    pg_tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM) for PostgreSQL clients.")] = None,
    pg_tls_key: Annotated[Path | None, typer.Option(help="Its private key (PEM; default: in the cert file).")] = None,
) -> None:
    """Serve the web portal and the REST API (/api/v1) for a mesh, and run its scheduled builds.

    With --pg, PostgreSQL clients connect on --pg-port (user: a mesh user; password: their API token); off
    loopback the port needs --pg-tls-cert.
    """
    options = PgOptions(pg, pg_port, pg_tls_cert, pg_tls_key)
    serve_mesh(mesh, port=port, announce=False, host=host, dev=dev, workers=workers, schedule=schedule, pg=options)


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="Words to find (each matches as a prefix; all must match).")],
    mesh: MeshPath = Path("."),
    kind: Annotated[list[str] | None, typer.Option(help="product, port, column or glossary.")] = None,
    domain: Annotated[list[str] | None, typer.Option(help="Only these domains.")] = None,
    classification: Annotated[list[str] | None, typer.Option(help="Only these classifications.")] = None,
    limit: Annotated[int, typer.Option(help="Hits to show.")] = 20,
    format: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = OutputFormat.text,
) -> None:
    """Search products, ports, columns and glossary terms (the same ranking as GET /api/v1/search)."""
    opened, service = _discovery(mesh)
    with opened:
        filters = {k: v for k, v in {"kind": kind, "domain": domain, "classification": classification}.items() if v}
        results = service.search(text, filters=filters, limit=limit)
        if not service.reader.products():
            raise UsageError("the catalog is empty: run `meshplane publish` (or a build) first")
    if format is OutputFormat.json:
        out.print_json(json.dumps(_plain(results), default=str))
        return
    out.print(f"{results.total} matches for {text!r}")
    for hit in results.hits:
        tags = " ".join(t for t in (hit.domain, hit.classification, hit.access_level) if t)
        out.print(f"  [bold]{hit.address}[/bold]  [dim]{hit.kind.value} {tags}  score {hit.score:.2f}[/dim]")
        if hit.snippet:
            out.print(f"      {hit.snippet}", markup=False)


@app.command()
def lineage(
    address: Annotated[str, typer.Argument(help="A product, port, or port.column address.")],
    mesh: MeshPath = Path("."),
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what feeds it.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what it feeds.")] = False,
    columns: Annotated[bool, typer.Option("--columns", help="Column-level lineage of SQL transforms.")] = False,
    format: Annotated[OutputFormat, typer.Option("--format", help="text or json.")] = OutputFormat.text,
) -> None:
    """Product lineage across domains (or column lineage with --columns), upstream and downstream."""
    if upstream and downstream:
        raise UsageError("choose --upstream or --downstream (or neither for both)")
    from meshplane.lineage import Direction

    direction = Direction.UPSTREAM if upstream else Direction.DOWNSTREAM if downstream else Direction.BOTH
    opened, service = _discovery(mesh)
    with opened:
        if columns:
            edges = service.column_lineage(address, direction)
            if format is OutputFormat.json:
                out.print_json(json.dumps(_plain(edges)))
                return
            for e in edges:
                out.print(f"{e.upstream_port}.{e.upstream_column} → {e.downstream_port}.{e.downstream_column}",
                          markup=False)  # fmt: skip
            if not edges:
                out.print("(no column lineage: Python transforms and sources have none)")
            return
        view = service.lineage(address, direction)
    if format is OutputFormat.json:
        out.print_json(json.dumps(_plain(view)))
        return
    for node in view.nodes:
        side = "upstream" if node.depth < 0 else "downstream" if node.depth > 0 else "this product"
        marker = "  " * abs(node.depth) + ("◀ " if node.depth < 0 else "▶ " if node.depth > 0 else "● ")
        out.print(f"{marker}{node.address}  [dim]{node.kind}, {side}[/dim]")
    for edge in view.edges:
        cross = "  [cross-domain]" if edge.cross_domain else ""
        out.print(f"    {edge.port} → {edge.downstream} (as {edge.input}){cross}", markup=False)


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="A user declared in mesh.yaml.")],
    mesh: MeshPath = Path("."),
    name: Annotated[str, typer.Option(help="A label for the token.")] = "",
    as_user: Annotated[str | None, typer.Option("--as", help="Acting user (default $MESHPLANE_USER).")] = None,
) -> None:
    """Create an API token for USER; it is printed once and stored only as a salted hash.

    Only USER themselves or the platform team may create one (the acting user is --as or $MESHPLANE_USER).
    """
    from meshplane.access.principals import acting_user

    opened, service = _discovery(mesh)
    with opened:
        if service.principal(user) is None:
            raise UsageError(f"{user} is not a user of this mesh; declare them in a team of mesh.yaml")
        token, info = opened.access.create_token(user, actor=acting_user(as_user) or user, name=name)
    out.print(token)
    expires = f", expires {info.expires_at:%Y-%m-%d}" if info.expires_at else ""
    out.print(f"[dim]token {info.id} for {user}{expires}; use it as 'Authorization: Bearer <token>'[/dim]")


@token_app.command("list")
def token_list(
    user: Annotated[str | None, typer.Argument(help="Whose tokens (default: the acting user's own).")] = None,
    mesh: MeshPath = Path("."),
    as_user: Annotated[str | None, typer.Option("--as", help="Acting user (default $MESHPLANE_USER).")] = None,
) -> None:
    """List API tokens: id, name, created, expires, state. Only USER or the platform team may list them."""
    from datetime import UTC, datetime

    from meshplane.access.principals import local_user

    opened = open_mesh(mesh)
    with opened:
        actor = local_user(as_user)
        tokens = opened.access.tokens(actor, user)
    now = datetime.now(UTC)
    for t in tokens:
        state = "revoked" if t.revoked_at else "expired" if t.expires_at and t.expires_at <= now else "active"
        expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
        out.print(f"{t.id}  {t.username:<12} {t.name or '-':<16} created {t.created_at:%Y-%m-%d}  "
                  f"expires {expires}  {state}", markup=False)  # fmt: skip
    if not tokens:
        out.print("no tokens")


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (from `meshplane token list`).")],
    mesh: MeshPath = Path("."),
    as_user: Annotated[str | None, typer.Option("--as", help="Acting user (default $MESHPLANE_USER).")] = None,
) -> None:
    """Revoke an API token at once (its user or the platform team)."""
    from meshplane.access.principals import local_user

    opened = open_mesh(mesh)
    with opened:
        revoked = opened.access.revoke_token(local_user(as_user), token_id)
    out.print(f"revoked token {revoked.id} of {revoked.username}", markup=False)
