"""A locked-down, single-use DuckDB database for running one governed query.

Every query gets a fresh in-memory database. Before any consumer SQL runs it is locked down, in this order:

1. at start-up (``duckdb.connect(config=...)``): no extension auto-install or auto-load, no community or
   unsigned extensions, no Python replacement scans, no temp directory (nothing spills to disk), memory and
   thread limits;
2. ``SET allowed_paths = [...]``: exactly the data files the query was granted (DuckDB refuses the setting
   at start-up and once external access is off, so it comes here);
3. ``SET enable_external_access = false``: no other file, URL, ATTACH, COPY, INSTALL or LOAD;
4. ``SET lock_configuration = true``: no later ``SET`` or ``RESET`` can undo any of it.

DuckDB has no statement timeout, so a watchdog calls ``interrupt()`` on the connection at its deadline: one
watchdog thread per process keeps every running query's deadline in a heap (a timer wheel), so no thread is
started per query. Results stream as Arrow record batches and stop at a row cap. Because opening a database
costs a few milliseconds, :class:`DuckDBSandbox` can prepare the next (still empty, never used) database in
the background while the current query runs, and closes used ones in the background, on one long-lived
housekeeping thread.

Opening and closing a database costs about 10 ms of CPU, ten times a small query. :meth:`DuckDBSandbox.
connect_warm` therefore keeps a few locked-down databases open and gives each next query of *the same user
over exactly the same granted files* a new connection to the same database: the lock-down is the same one a
fresh database would get (its allow-list is exactly those files, its configuration locked), consumer SQL is
a guarded read-only SELECT (no CREATE, no SET), and no other user's query ever runs in it.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.engines.deadlines import WATCHDOG as _WATCHDOG
from meshplane.engines.limits import ProcessLimits, parse_bytes
from meshplane.errors import EngineUnavailable, QueryRejected
from meshplane.storage.objectstore import S3Location

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "DuckDBSandbox",
    "QueryCancelled",
    "QueryInterrupted",
    "ResultTooLarge",
    "SandboxLimits",
    "SandboxStream",
    "process_limits",
]


class QueryInterrupted(QueryRejected):
    """The query ran longer than its time limit and was stopped."""


class QueryCancelled(QueryRejected):
    """The query was cancelled by its client before it finished."""


class ResultTooLarge(QueryRejected):
    """The query returned more rows than the gateway hands out."""


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    """Resource limits of one sandboxed query."""

    memory_limit: str = "2GB"
    threads: int = 2
    timeout_seconds: float = 30.0
    max_rows: int = 1_000_000
    max_result_bytes: int = 512 * 2**20
    """Arrow bytes one result may hold: it crosses to the caller's process, which serves other users."""
    headroom: str = "2GB"
    """Address space a query's child process may map beyond ``memory_limit`` (libraries, stacks, results)."""
    processes: int = 4
    """Child processes running queries at once (see :mod:`meshplane.engines.duckdb_isolated`)."""
    per_user: int = 2
    """Queries one user runs at once; below ``processes`` so one user's long queries never block another."""
    preserve_order: bool = True
    """DuckDB's ``preserve_insertion_order``: a consumer's rows come in the files' order; a build's transform
    (False, as builds ran before the sandbox) lets DuckDB reorder rows of a query without ORDER BY, which
    writes large results in parallel with less memory."""


def process_limits(limits: SandboxLimits, *, grace_seconds: float = 0.0) -> ProcessLimits:
    """The limits of a child process that runs SQL under ``limits`` (queries and transforms alike).

    A child that still maps more than half its headroom after a call is replaced: the next call would
    otherwise find less than half the room the headroom promises it."""
    memory, headroom = parse_bytes(limits.memory_limit), parse_bytes(limits.headroom)
    return ProcessLimits(
        memory_bytes=memory + headroom,
        wall_seconds=limits.timeout_seconds + grace_seconds,
        recycle_above=memory + headroom // 2,
    )


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a core dependency
        raise EngineUnavailable('DuckDB is not installed; run: pip install "duckdb==1.5.5"') from None
    return duckdb


def _startup_config(limits: SandboxLimits, temp_directory: str = "") -> dict[str, str | bool | int]:
    config: dict[str, str | bool | int] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "allow_unsigned_extensions": False,
        "allow_persistent_secrets": False,
        "python_enable_replacements": False,
        "temp_directory": temp_directory,
        "threads": limits.threads,
        "preserve_insertion_order": limits.preserve_order,
    }
    if limits.memory_limit:  # empty: DuckDB's default (80 % of RAM), as builds outside the sandbox had
        config["memory_limit"] = limits.memory_limit
    return config


class _Housekeeper:
    """A long-lived worker that opens spare databases and closes used ones, in order, off the query path.

    A daemon thread, so an idle one never holds up interpreter exit; :meth:`stop` (called from
    :meth:`DuckDBSandbox.close` and at exit) finishes the queued work first, so no database is left open.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            self._queue.put(work)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="meshplane-sandbox-housekeeping",
                                                daemon=True)  # fmt: skip
                self._thread.start()

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            with contextlib.suppress(Exception):  # closing a database does not fail; opening raises again later
                work()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._queue.put(None)
        if thread is not threading.current_thread():
            thread.join()


_LIVE: weakref.WeakSet[DuckDBSandbox] = weakref.WeakSet()
_WARM_DATABASES = 4
"""Databases :meth:`DuckDBSandbox.connect_warm` keeps open (a few MB each while idle)."""


@atexit.register
def _close_all() -> None:  # pragma: no cover - runs at interpreter exit
    for sandbox in list(_LIVE):
        sandbox.close()


class DuckDBSandbox:
    """Opens one locked-down DuckDB database per query; thread-safe."""

    def __init__(
        self, limits: SandboxLimits | None = None, *, prewarm: bool = True, object_store: S3Location | None = None
    ) -> None:
        self.limits = limits or SandboxLimits()
        # With the warehouse on S3: httpfs and a redacted secret before lock-down; ``allowed_paths`` then
        # admits exactly the granted objects, so the sandbox gains no other network access.
        self.object_store = object_store
        self._prewarm = prewarm
        self._lock = threading.Lock()
        self._spare: duckdb.DuckDBPyConnection | None = None
        self._spare_ready: threading.Event | None = None
        self._housekeeper = _Housekeeper()
        self._closed = False
        self._warm_keys: dict[int, tuple[str, frozenset[str]]] = {}
        self._warm: OrderedDict[tuple[str, frozenset[str]], duckdb.DuckDBPyConnection] = OrderedDict()
        _LIVE.add(self)
        if prewarm:
            self._start_spare()

    def _open(self, temp_directory: str = "") -> duckdb.DuckDBPyConnection:
        config = _startup_config(self.limits, temp_directory)
        connection: duckdb.DuckDBPyConnection = _duckdb().connect(":memory:", config=config)
        if self.object_store is not None:
            from meshplane.engines.objectstore import open_s3

            try:
                open_s3(connection, self.object_store)
            except BaseException:
                connection.close()
                raise
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

        self._housekeeper.submit(work)

    def _take(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            connection: duckdb.DuckDBPyConnection | None = None
            if self._prewarm and self._spare_ready is not None:
                self._spare_ready.wait()
                connection, self._spare = self._spare, None
                self._start_spare()
        return connection if connection is not None else self._open()

    def open_unused(self) -> duckdb.DuckDBPyConnection:
        """A database opened with this sandbox's start-up configuration and not locked down yet, for a later
        :meth:`connect` (``unused``): nothing may run on it before."""
        return self._open()

    def connect(self, allowed_files: Sequence[str], *, writable: Path | None = None,
                unused: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:  # fmt: skip
        """A fresh database that can read exactly ``allowed_files`` and nothing else, configuration locked.

        With ``writable`` (a build's staging folder) it may also write there, and spills to a folder inside it
        instead of holding everything in memory. ``unused``: a database from :meth:`open_unused` to lock down
        instead of opening one now (it gets the spill folder before its lock-down)."""
        if unused is not None:
            connection = unused
            if writable is not None:
                try:
                    connection.execute(f"SET temp_directory = {_quote(str(writable / '.spill'))}")
                except BaseException:
                    connection.close()
                    raise
        elif writable is None:
            connection = self._take()
        else:
            connection = self._open(str(writable / ".spill"))
        try:
            _lock_down(connection, allowed_files, () if writable is None else (str(writable) + "/",))
        except BaseException:
            connection.close()
            raise
        return connection

    def connect_warm(self, owner: str, allowed_files: Sequence[str]) -> duckdb.DuckDBPyConnection:
        """A new connection to a kept database that ``owner``'s queries over exactly ``allowed_files`` share
        (opened and locked down like :meth:`connect` the first time); close it when done, the database stays.
        """
        key = (owner, frozenset(allowed_files))
        with self._lock:
            database = self._warm.get(key)
            if database is not None:
                self._warm.move_to_end(key)
        if database is None:
            database = self.connect(allowed_files)
            with self._lock:
                if not self._closed:  # closed meanwhile: used once, like a fresh database
                    self._warm[key] = database
                while len(self._warm) > _WARM_DATABASES:
                    self._housekeeper.submit(self._warm.popitem(last=False)[1].close)
        cursor = database.cursor()
        with self._lock:
            self._warm_keys[id(cursor)] = key
        return cursor

    def release_warm(self, connection: duckdb.DuckDBPyConnection, *, failed: bool) -> None:
        """Close a connection from :meth:`connect_warm`; after a failed query its database goes too (a query
        that ran out of memory or was interrupted may leave it in a state the next one should not inherit)."""
        with self._lock:
            key = self._warm_keys.pop(id(connection), None)
            database = self._warm.pop(key, None) if failed and key is not None else None
        self._housekeeper.submit(connection.close)
        if database is not None:
            self._housekeeper.submit(database.close)

    def run(self, sql: str, allowed_files: Sequence[str]) -> pa.Table:
        """Run ``sql`` in a fresh locked-down database that may read only ``allowed_files``."""
        return self.execute(self.connect(allowed_files), sql)

    @contextlib.contextmanager
    def deadline(self, connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Interrupt whatever runs on ``connection`` at the time limit (raised as QueryInterrupted)."""
        timed_out = threading.Event()

        def interrupt() -> None:
            timed_out.set()
            connection.interrupt()

        watchdog = _WATCHDOG.schedule(self.limits.timeout_seconds, interrupt)
        try:
            yield
        except Exception:
            if timed_out.is_set():
                raise QueryInterrupted(
                    f"it ran longer than {self.limits.timeout_seconds:g} s and was stopped"
                ) from None
            raise
        finally:
            _WATCHDOG.cancel(watchdog)

    def execute(self, connection: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
        """Run ``sql`` on a connection from :meth:`connect`, then dispose of it; enforces time and rows."""
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        with self.stream(connection, sql) as result:
            batches = list(result)
        return pa.Table.from_batches(batches, schema=result.schema)

    def schema_of(self, sql: str, allowed_files: Sequence[str]) -> pa.Schema:
        """The Arrow schema ``sql`` would return, found by running it with no rows wanted (LIMIT 0)."""
        connection = self.connect(allowed_files)
        try:
            schema: pa.Schema = connection.sql(sql).limit(0).to_arrow_table().schema
        finally:
            self._dispose(connection)
        return schema

    def stream(self, connection: duckdb.DuckDBPyConnection, sql: str, *, batch_size: int = 65_536,
               capped: bool = True) -> SandboxStream:  # fmt: skip
        """Start ``sql`` on a connection from :meth:`connect`: its batches are read as they are produced.

        ``capped=False`` lifts the row and byte caps, for a reader that passes batches on without holding
        them (the wire protocol); the time limit still holds."""
        return SandboxStream(self, connection, sql, batch_size, capped=capped)

    def _dispose(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Close a used database; shutting one down takes milliseconds, so the housekeeping thread does it."""
        if not self._prewarm:
            connection.close()
            return
        self._housekeeper.submit(connection.close)

    def close(self) -> None:
        """Close the prepared spare database, if any, and every used one still queued for closing."""
        with self._lock:
            self._prewarm = False
            self._closed = True
            warm, self._warm = list(self._warm.values()), OrderedDict()
            for database in warm:
                self._housekeeper.submit(database.close)
            if self._spare_ready is not None:
                self._spare_ready.wait()
            if self._spare is not None:
                self._spare.close()
                self._spare = None
        self._housekeeper.stop()
        _LIVE.discard(self)


class SandboxStream:
    """One running query: its schema, then its Arrow record batches as DuckDB produces them.

    Iterating reads the next batch; the time limit covers the whole stream and the row cap is checked per
    batch. Exhausting, failing or :meth:`close` disposes of the database. :meth:`cancel` may be called from
    any thread: it interrupts DuckDB, and the reading thread then raises :class:`QueryCancelled`.
    """

    def __init__(self, sandbox: DuckDBSandbox, connection: duckdb.DuckDBPyConnection, sql: str,
                 batch_size: int, *, capped: bool = True) -> None:  # fmt: skip
        self._sandbox = sandbox
        self._capped = capped
        self._connection: duckdb.DuckDBPyConnection | None = connection
        self._limits = sandbox.limits
        self._timed_out = threading.Event()
        self._cancelled = threading.Event()
        self.rows = 0
        self.bytes = 0
        self._watchdog = _WATCHDOG.schedule(self._limits.timeout_seconds, self._on_deadline)
        try:
            # DuckDB streams the result: execute returns once the first rows exist, the rest come on reads
            self._reader = connection.execute(sql).to_arrow_reader(batch_size=batch_size)
            self.schema: pa.Schema = self._reader.schema
        except Exception as error:
            self.close()
            raise self._stopped() or error from None

    def _on_deadline(self) -> None:
        self._timed_out.set()
        connection = self._connection
        if connection is not None:
            connection.interrupt()

    def _stopped(self) -> QueryRejected | None:
        if self._cancelled.is_set():
            return QueryCancelled("the query was cancelled")
        if self._timed_out.is_set():
            return QueryInterrupted(f"the query ran longer than {self._limits.timeout_seconds:g} s and was stopped")
        return None

    def __iter__(self) -> SandboxStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self._connection is None:
            raise StopIteration
        try:
            batch = self._reader.read_next_batch()
        except StopIteration:
            self.close()
            raise
        except Exception as error:
            self.close()
            raise self._stopped() or error from None
        self.rows += batch.num_rows
        self.bytes += batch.nbytes
        if self._capped and self.rows > self._limits.max_rows:
            self.close()
            raise ResultTooLarge(f"the result has more than {self._limits.max_rows} rows; add a LIMIT or aggregate")
        if self._capped and self.bytes > self._limits.max_result_bytes:
            self.close()
            raise ResultTooLarge(f"the result is larger than {self._limits.max_result_bytes // 2**20} MB; add a LIMIT, "
                                 "aggregate or select fewer columns")  # fmt: skip
        if self._cancelled.is_set():  # cancelled between two batches: DuckDB had nothing to interrupt
            self.close()
            raise QueryCancelled("the query was cancelled")
        return batch

    def cancel(self) -> None:
        """Stop the query from another thread; the thread reading it gets QueryCancelled."""
        self._cancelled.set()
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):  # a connection closing at the same moment
                connection.interrupt()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def close(self) -> None:
        """Stop reading and dispose of the database (call it from the thread that reads the stream)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        _WATCHDOG.cancel(self._watchdog)
        self._sandbox._dispose(connection)

    def __enter__(self) -> SandboxStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _lock_down(
    connection: duckdb.DuckDBPyConnection, allowed_files: Sequence[str], writable: Sequence[str] = ()
) -> None:
    for path in (*allowed_files, *writable):
        if "\x00" in path:
            raise QueryRejected("the query sandbox could not be locked down")
    paths = "[" + ", ".join(_quote(path) for path in allowed_files) + "]"
    folders = f"SET allowed_directories = [{', '.join(_quote(path) for path in writable)}]; " if writable else ""
    # one round trip, in this order; DuckDB runs the statements one by one and stops at the first failure
    connection.execute(
        f"SET allowed_paths = {paths}; {folders}SET enable_external_access = false; SET lock_configuration = true"
    )
    locked = connection.execute(
        "SELECT current_setting('lock_configuration'), current_setting('enable_external_access')"
    ).fetchone()
    if not locked or locked[0] is not True or locked[1] is not False:
        raise QueryRejected("the query sandbox could not be locked down")
