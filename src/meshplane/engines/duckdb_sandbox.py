"""A locked-down, single-use DuckDB database for running one governed query.

Every query gets a fresh in-memory database. Before any consumer SQL runs it is locked down, in this order:

1. at start-up (``duckdb.connect(config=...)``): no extension auto-install or auto-load, no community or
   unsigned extensions, no Python replacement scans, no temp directory (nothing spills to disk), memory and
   thread limits;
2. ``SET allowed_paths = [...]``: exactly the data files the query was granted (DuckDB refuses the setting
   at start-up and once external access is off, so it comes here);
3. ``SET enable_external_access = false``: no other file, URL, ATTACH, COPY, INSTALL or LOAD;
4. ``SET lock_configuration = true``: no later ``SET`` or ``RESET`` can undo any of it.

DuckDB has no statement timeout, so a watchdog timer calls ``interrupt()`` on the connection. Results
stream as Arrow record batches and stop at a row cap. Because opening a database costs a few
milliseconds, :class:`DuckDBSandbox` can prepare the next (still empty, never used) database in the
background while the current query runs, and closes used ones in the background; a database is never reused.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshplane.errors import EngineUnavailable, QueryRejected

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["DuckDBSandbox", "QueryInterrupted", "ResultTooLarge", "SandboxLimits"]


class QueryInterrupted(QueryRejected):
    """The query ran longer than its time limit and was stopped."""


class ResultTooLarge(QueryRejected):
    """The query returned more rows than the gateway hands out."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits of one sandboxed query."""

    memory_limit: str = "2GB"
    threads: int = 2
    timeout_seconds: float = 30.0
    max_rows: int = 1_000_000


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a core dependency
        raise EngineUnavailable('DuckDB is not installed; run: pip install "duckdb==1.5.5"') from None
    return duckdb


def _startup_config(limits: SandboxLimits) -> dict[str, str | bool | int]:
    return {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "allow_persistent_secrets": False,
        "python_enable_replacements": False,
        "temp_directory": "",
        "memory_limit": limits.memory_limit,
        "threads": limits.threads,
    }


class DuckDBSandbox:
    """Opens one locked-down DuckDB database per query; thread-safe."""

    def __init__(self, limits: SandboxLimits | None = None, *, prewarm: bool = True) -> None:
        self.limits = limits or SandboxLimits()
        self._prewarm = prewarm
        self._lock = threading.Lock()
        self._spare: duckdb.DuckDBPyConnection | None = None
        self._spare_ready: threading.Event | None = None
        if prewarm:
            self._start_spare()

    def _open(self) -> duckdb.DuckDBPyConnection:
        connection: duckdb.DuckDBPyConnection = _duckdb().connect(
            ":memory:", config=_startup_config(self.limits)
        )
        return connection

    def _start_spare(self) -> None:
        ready = threading.Event()
        self._spare_ready = ready

        def work() -> None:
            try:
                self._spare = self._open()
            except Exception:  # the foreground open raises the same error where it can be handled
                self._spare = None
            finally:
                ready.set()

        threading.Thread(target=work, name="meshplane-sandbox-prewarm", daemon=False).start()

    def _take(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            connection: duckdb.DuckDBPyConnection | None = None
            if self._prewarm and self._spare_ready is not None:
                self._spare_ready.wait()
                connection, self._spare = self._spare, None
                self._start_spare()
        return connection if connection is not None else self._open()

    def connect(self, allowed_files: Sequence[str]) -> duckdb.DuckDBPyConnection:
        """A fresh database that can read exactly ``allowed_files`` and nothing else, configuration locked."""
        connection = self._take()
        try:
            _lock_down(connection, allowed_files)
        except BaseException:
            connection.close()
            raise
        return connection

    def run(self, sql: str, allowed_files: Sequence[str]) -> pa.Table:
        """Run ``sql`` in a fresh locked-down database that may read only ``allowed_files``."""
        return self.execute(self.connect(allowed_files), sql)

    def execute(self, connection: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
        """Run ``sql`` on a connection from :meth:`connect`, then dispose of it; enforces time and rows."""
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        timed_out = threading.Event()

        def interrupt() -> None:
            timed_out.set()
            connection.interrupt()

        watchdog = threading.Timer(self.limits.timeout_seconds, interrupt)
        watchdog.daemon = True
        watchdog.start()
        try:
            reader = connection.execute(sql).to_arrow_reader(batch_size=65_536)
            batches: list[pa.RecordBatch] = []
            rows = 0
            for batch in reader:
                rows += batch.num_rows
                if rows > self.limits.max_rows:
                    raise ResultTooLarge(
                        f"the result has more than {self.limits.max_rows} rows; add a LIMIT or aggregate"
                    )
                batches.append(batch)
            return pa.Table.from_batches(batches, schema=reader.schema)
        except Exception:
            if timed_out.is_set():
                raise QueryInterrupted(
                    f"the query ran longer than {self.limits.timeout_seconds:g} s and was stopped"
                ) from None
            raise
        finally:
            watchdog.cancel()
            self._dispose(connection)

    def _dispose(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Close a used database; shutting one down takes milliseconds, so a background thread does it."""
        if not self._prewarm:
            connection.close()
            return
        threading.Thread(target=connection.close, name="meshplane-sandbox-close", daemon=False).start()

    def close(self) -> None:
        """Close the prepared spare database, if any."""
        with self._lock:
            self._prewarm = False
            if self._spare_ready is not None:
                self._spare_ready.wait()
            if self._spare is not None:
                self._spare.close()
                self._spare = None


def _lock_down(connection: duckdb.DuckDBPyConnection, allowed_files: Sequence[str]) -> None:
    from sqlglot import exp

    paths = exp.Array(expressions=[exp.Literal.string(path) for path in allowed_files])
    statements = [
        exp.Set(expressions=[exp.SetItem(this=exp.EQ(this=exp.var("allowed_paths"), expression=paths))]),
        exp.Set(expressions=[exp.SetItem(this=exp.EQ(this=exp.var("enable_external_access"),
                                                     expression=exp.false()))]),
        exp.Set(expressions=[exp.SetItem(this=exp.EQ(this=exp.var("lock_configuration"),
                                                     expression=exp.true()))]),
    ]
    for statement in statements:
        connection.execute(statement.sql(dialect="duckdb"))
    locked = connection.execute("SELECT current_setting('lock_configuration')").fetchone()
    if not locked or locked[0] is not True:
        raise QueryRejected("the query sandbox could not be locked down")

