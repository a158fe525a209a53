"""The PostgreSQL wire protocol server: an asyncio listener in front of the governed query gateway.

:class:`WireServer` accepts connections (TLS with a configured certificate; plain TCP only when bound to
loopback, like PostgreSQL's local trust), authenticates each user by name and an API token given as the
password, and serves each connection with a :class:`~meshplane.wire.session.Session`. What to run is the
:class:`WireBackend`'s business; :class:`MeshBackend` gives every statement to the workspace facade, so the
wire protocol decides nothing about access itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import itertools
import secrets
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from meshplane.engines.duckdb_isolated import IsolatedSandbox
from meshplane.engines.duckdb_sandbox import DuckDBSandbox, SandboxLimits, SandboxStream
from meshplane.errors import UsageError
from meshplane.wire.catalog import CatalogQuery
from meshplane.wire.session import Session

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from meshplane.workspace import Mesh
    from meshplane.workspace.access import PortSchema

__all__ = ["MeshBackend", "ResultStream", "WireBackend", "WireConfig", "WireServer", "running"]

DEFAULT_PORT = 5433
WireAuth = Literal["scram-sha-256", "password"]
CATALOG_LIMITS = SandboxLimits(memory_limit="256MB", threads=1, timeout_seconds=30.0, max_rows=100_000,
                               headroom="2GB", processes=2, per_user=1)  # fmt: skip
"""Limits of one catalog query (its worker processes are apart from the data queries'). A worker maps about
600 MiB (its libraries) after its first query; the headroom leaves room above that for a large mesh's catalog
database, so a session's catalog queries keep one worker instead of each waiting for a new one."""


_SESSIONS: OrderedDict[tuple[str, str, int], tuple[CatalogQuery, tuple[PortSchema, ...]]] = OrderedDict()
"""In a catalog worker: the catalog of the sessions it served last, with the ports it was filled from (a
session's next query over the same ports reuses its catalog database, as it would in the server)."""
_SESSIONS_KEPT = 16


def _open_catalog(sandbox: DuckDBSandbox, user: str, database: str, pid: int, settings: dict[str, str], text: str,
                  ports: tuple[PortSchema, ...]) -> SandboxStream:  # fmt: skip
    """In a catalog worker: the catalog query of ``user``'s session ``pid`` over ``ports``, on this worker."""
    key = (user, database, pid)
    kept = _SESSIONS.pop(key, None)
    if kept is not None and kept[0].sandbox is sandbox and kept[1] == ports:
        catalog, ports = kept[0], kept[1]  # the very list the catalog database was filled from
        catalog.settings = settings
    else:
        if kept is not None:
            kept[0].close()
        catalog = CatalogQuery(sandbox, user=user, database=database, pid=pid, settings=settings)
    _SESSIONS[key] = (catalog, ports)
    while len(_SESSIONS) > _SESSIONS_KEPT:
        _SESSIONS.popitem(last=False)[1][0].close()
    return catalog.run(text, ports)


class ResultStream(Protocol):
    """A running query: its schema, then record batches; cancel() from any thread, close() when done.

    ``schema`` may wait for the query's first rows (read it on a worker thread, never on the event loop)."""

    @property
    def schema(self) -> pa.Schema: ...

    def __iter__(self) -> Iterator[pa.RecordBatch]: ...
    def __next__(self) -> pa.RecordBatch: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...


class WireBackend(Protocol):
    """What the wire server asks about users, ports and queries."""

    def authenticate(self, user: str, password: str) -> bool: ...
    def scram_verifiers(self, user: str) -> Sequence[str]: ...
    def readable_ports(self, user: str) -> Sequence[PortSchema]: ...
    def stream(self, user: str, sql: str) -> ResultStream: ...


class MeshBackend:
    """Every decision by the workspace facade: token verification, readable ports, the governed gateway."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh

    def authenticate(self, user: str, password: str) -> bool:
        return bool(password) and self.mesh.access.user_for_token(password) == user

    def scram_verifiers(self, user: str) -> Sequence[str]:
        return self.mesh.access.scram_verifiers(user)

    def readable_ports(self, user: str) -> Sequence[PortSchema]:
        return self.mesh.access.readable_ports(user)

    def stream(self, user: str, sql: str) -> ResultStream:
        # nothing on the wire holds a result whole: the row cap gives way, the time and memory limits hold
        return self.mesh.access.stream(user, sql, capped=False)


@dataclass(frozen=True, slots=True)
class WireConfig:
    """Where and how the server listens."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    tls_cert: Path | None = None
    tls_key: Path | None = None
    workers: int = 32
    """Threads that run queries and encode rows (DuckDB releases the GIL while it works)."""
    catalog_ttl: float = 5.0
    """Seconds a user's list of readable ports is reused by catalog queries (queries are always decided anew)."""
    auth: WireAuth = "scram-sha-256"
    """How a client proves it holds the user's API token: SCRAM-SHA-256, or the token as a cleartext password."""

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_cert is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.tls_cert), str(self.tls_key or self.tls_cert))
        return context

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


class WireServer:
    """Serves PostgreSQL clients on one address until :meth:`close`."""

    def __init__(self, backend: WireBackend, config: WireConfig | None = None) -> None:
        self.backend = backend
        self.config = config or WireConfig()
        self.ssl_context = self.config.ssl_context()
        if self.ssl_context is None and not self.config.loopback:
            raise UsageError(f"the PostgreSQL port on {self.config.host} needs TLS: set a certificate and key "
                             "(--pg-tls-cert, --pg-tls-key); passwords are API tokens")  # fmt: skip
        self.plaintext_allowed = self.ssl_context is None
        """Without TLS the server is reachable from this machine only (loopback), like local trust."""
        self.pool = concurrent.futures.ThreadPoolExecutor(self.config.workers, thread_name_prefix="meshplane-wire")
        # Catalog queries hold no data, but anything a user types may run in them (SELECT 1, version(), also
        # SELECT len(range(2000000000))): they run in limited worker processes like data queries, never here.
        # ``catalog_sandbox`` only describes the catalog database; the workers build it (_open_catalog).
        self.catalog_sandbox = DuckDBSandbox(CATALOG_LIMITS, prewarm=False)
        self.catalog_workers = IsolatedSandbox(CATALOG_LIMITS, preload=(__name__,))
        self._sessions: dict[int, Session] = {}
        self._pids = itertools.count(10_000)
        self._lock = threading.Lock()
        self._ports: dict[str, tuple[float, Sequence[PortSchema]]] = {}
        self._server: asyncio.Server | None = None
        self.port = self.config.port
        self.mock_key = secrets.token_bytes(32)
        """Derives the SCRAM salt shown for users without a verifier, stable while the server runs."""

    def readable_ports(self, user: str) -> Sequence[PortSchema]:
        with self._lock:
            hit = self._ports.get(user)
        if hit is not None and time.monotonic() - hit[0] < self.config.catalog_ttl:
            return hit[1]
        ports = self.backend.readable_ports(user)
        with self._lock:
            self._ports[user] = (time.monotonic(), ports)
        return ports

    def catalog_stream(self, catalog: CatalogQuery, text: str, ports: Sequence[PortSchema]) -> ResultStream:
        """Start a catalog query of ``catalog``'s user in a catalog worker process."""
        args = (catalog.user, catalog.database, catalog.pid, dict(catalog.settings), text, tuple(ports))
        return self.catalog_workers.open(catalog.user, _open_catalog, *args)

    def register(self, session: Session) -> int:
        with self._lock:
            pid = next(self._pids)
            self._sessions[pid] = session
        return pid

    def unregister(self, session: Session) -> None:
        with self._lock:
            if self._sessions.get(session.pid) is session:
                del self._sessions[session.pid]

    def cancel(self, pid: int, secret: int) -> None:
        with self._lock:
            session = self._sessions.get(pid)
        if session is not None and session.secret == secret:
            session.cancel()

    def cancel_own(self, user: str, pid: int) -> bool:
        """``pg_cancel_backend(pid)``: cancel the running query of ``user``'s session ``pid`` (as PostgreSQL lets
        a role cancel its own backends); False when there is no such session of this user."""
        with self._lock:
            session = self._sessions.get(pid)
        if session is None or session.user != user:
            return False
        session.cancel()
        return True

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Session(self, reader, writer).run()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for session in list(self._sessions.values()):
                session.cancel()
                session.writer.close()
            await self._server.wait_closed()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.catalog_sandbox.close()
        self.catalog_workers.close()


@contextlib.contextmanager
def running(backend: WireBackend, config: WireConfig | None = None) -> Iterator[WireServer]:
    """Run a server on its own event-loop thread for the duration of the block (the CLI and tests use it)."""
    server = WireServer(backend, config)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as error:  # reported to the starting thread
            failure.append(error)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=main, name="meshplane-wire", daemon=True)
    thread.start()
    started.wait()
    if failure:
        server.shutdown()
        raise failure[0]
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        server.shutdown()


class BackgroundServer:
    """A wire server over its own opened mesh, on a thread; :meth:`close` stops both."""

    def __init__(self, mesh: Mesh, context: contextlib.AbstractContextManager[WireServer]) -> None:
        self.mesh = mesh
        self._context = context
        self.port = context.__enter__().port

    def close(self) -> None:
        self._context.__exit__(None, None, None)
        self.mesh.access.close()
        self.mesh.close()


def serve_in_background(path: Path, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                        tls_cert: Path | None = None, tls_key: Path | None = None) -> BackgroundServer:  # fmt: skip
    """Open the mesh at ``path`` and serve PostgreSQL clients for it (what ``meshplane serve --pg`` runs).

    How clients authenticate is the mesh's setting ``platform.wire.auth`` (mesh.yaml)."""
    from meshplane.workspace import Mesh

    mesh = Mesh.open(path)
    auth = mesh.graph.spec.config.platform.wire.auth
    config = WireConfig(host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, auth=auth)
    try:
        return BackgroundServer(mesh, running(MeshBackend(mesh), config))
    except BaseException:
        mesh.close()
        raise
