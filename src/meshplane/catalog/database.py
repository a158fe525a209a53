"""Engines for the catalog database: SQLite tuned for many writers, or PostgreSQL.

SQLite writes never fail with "database is locked": every write transaction starts with
``BEGIN IMMEDIATE`` (so a reader never has to upgrade its lock, which SQLite refuses with SQLITE_BUSY
and no waiting), waits up to ``busy_timeout``, and the whole transaction is retried with jittered
backoff if SQLite still reports the database busy (WAL checkpoints and schema changes can).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from meshplane.errors import CatalogError, CatalogUnavailable

__all__ = ["Database", "default_url"]

T = TypeVar("T")

_WRITE = "meshplane_write"
BUSY_TIMEOUT_MS = 30_000
_RETRY_FOR_S = 120.0


def default_url(root: str | Path) -> str:
    """``sqlite:////abs/<root>/.meshplane/catalog.db``, creating the folder."""
    folder = Path(root).resolve() / ".meshplane"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'catalog.db'}"


def _is_busy(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig).lower()
        return "locked" in text or "busy" in text
    return False


def _sqlite_engine(url: sa.URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_pre_ping=False,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event decide how transactions start (pysqlite's own BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _retry_busy(lambda: cursor.execute("PRAGMA journal_mode = WAL"))
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Search joins index hits to rows by id; a 64 MiB cache and memory-mapped reads keep that cheap.
        cursor.execute("PRAGMA cache_size = -65536")
        cursor.execute("PRAGMA mmap_size = 268435456")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _retry_busy(fn: Callable[[], T]) -> T:
    deadline = time.monotonic() + _RETRY_FOR_S
    delay = 0.005
    while True:
        try:
            return fn()
        except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.5)


# PostgreSQL SQLSTATEs of a database that is there but refuses writes (read-only transaction, standby,
# disk full, no privilege): reported as the setup fault they are.
_PG_REFUSALS = {"25006": "is read-only", "53100": "is out of disk space", "42501": "refuses this user"}


def unavailable(error: sa.exc.DBAPIError, url: sa.URL) -> CatalogUnavailable | None:
    """The database-level fault behind ``error`` in words, naming the database; None for other errors
    (constraint violations, SQL mistakes), which stay what they are."""
    where = url.render_as_string(hide_password=True)
    orig = error.orig
    first = (str(orig).strip().splitlines() or [""])[0]
    if isinstance(orig, sqlite3.OperationalError):
        text = first.lower()
        if "readonly" in text or "read-only" in text:
            return CatalogUnavailable(f"the catalog database {where} is read-only: meshplane cannot record this")
        if "unable to open" in text or "disk i/o" in text or "full" in text or "not a database" in text:
            return CatalogUnavailable(f"cannot use the catalog database {where}: {first}")
        return None
    state = getattr(orig, "sqlstate", None)
    if state in _PG_REFUSALS:
        return CatalogUnavailable(f"the catalog database {where} {_PG_REFUSALS[state]}: {first}")
    if isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError):
        return CatalogUnavailable(
            f"cannot reach the catalog database {where}: {first} "
            "(is the server running, and does the URL in the environment variable mesh.yaml names point at it?)"
        )
    return None


class Database:
    """One engine plus the two ways to use it: read transactions and retried write transactions."""

    def __init__(self, url: str) -> None:
        try:
            parsed = sa.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise CatalogError(f"catalog URL {url!r} is not a database URL: {exc}") from exc
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(parsed)
        elif self.dialect == "postgresql":
            self.engine = sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
        else:
            raise CatalogError(
                f"catalog URL {url!r}: meshplane's catalog runs on SQLite or PostgreSQL; "
                "write sqlite:////abs/path/catalog.db or postgresql+psycopg://user@host:5432/db"
            )

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.DBAPIError as error:
            raise unavailable(error, self.url) or error from error

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retried as a whole while SQLite says busy.

        ``work`` may run more than once, so it must only touch the database.
        """

        def attempt() -> T:
            with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
                return work(conn)

        try:
            if self.dialect == "sqlite":
                return _retry_busy(attempt)
            return attempt()
        except sa.exc.DBAPIError as error:
            raise unavailable(error, self.url) or error from error

    def dispose(self) -> None:
        self.engine.dispose()
