"""Governed queries in limited child processes: the sandbox with a hard memory and time bound.

:class:`IsolatedSandbox` runs each query in a :class:`~meshplane.engines.duckdb_sandbox.DuckDBSandbox`
held by a long-lived child process of a :class:`~meshplane.engines.limits.WorkerPool`. The child's
address space is capped at ``memory_limit + headroom`` (RLIMIT_AS), so an allocation DuckDB's own
``memory_limit`` does not see (``len(range(2000000000))``, ``repeat()``) fails inside the child; a query
that outlives ``timeout_seconds`` is interrupted by the child's watchdog and, if it does not stop, its
child is killed. The calling process never runs consumer SQL, so it stays up and serves other users;
each user holds at most ``per_user`` of the ``processes`` children at once.

Results stream back as Arrow IPC chunks of about a megabyte (:class:`IsolatedStream`): the child reads
DuckDB's record batches as DuckDB makes them and stays one chunk ahead of its reader, so a result of any
size is never held whole by either process. ``cancel()`` interrupts DuckDB in the child at once (the child
serves the next query); closing a stream before its end frees its child at once. The child reports how
long DuckDB itself ran. A query whose child dies before it sends the first rows (a crash, not a limit) runs
once more in a fresh child.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from meshplane.engines.duckdb_sandbox import (
    DuckDBSandbox,
    QueryCancelled,
    QueryInterrupted,
    SandboxLimits,
    SandboxStream,
    process_limits,
)
from meshplane.engines.limits import RemoteStream, WorkerPool, on_cancel, prestart
from meshplane.errors import LimitExceeded
from meshplane.storage.objectstore import S3Location

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["IsolatedSandbox", "IsolatedStream", "Opener", "prestart_query_process", "process_limits"]

_log = logging.getLogger(__name__)

_SANDBOXES: dict[tuple[SandboxLimits, S3Location | None], DuckDBSandbox] = {}
"""In a child: one sandbox per limits and warehouse (it keeps the next database ready while a query runs)."""

_CHUNK_BYTES = 1 << 20
"""Arrow bytes per chunk sent to the parent: big enough that the trip costs nothing per row, small enough
that neither side holds much of a large result."""

Opener = Callable[..., "tuple[duckdb.DuckDBPyConnection, str] | SandboxStream"]
"""In a child: ``opener(sandbox, *args)`` gives a locked-down connection of ``sandbox`` and the SQL to run on
it (a cancel then reaches the query while it starts), or a stream it started itself. A module-level function
(children import it by name)."""


def _open_query(sandbox: DuckDBSandbox, sql: str, files: tuple[str, ...],
                owner: str) -> tuple[duckdb.DuckDBPyConnection, str]:  # fmt: skip
    """In the child: a connection to ``owner``'s database that may read exactly ``files``, and the query."""
    return sandbox.connect_warm(owner, files), sql


class _Chunks:
    """In the child: a query's record batches as Arrow IPC streams of about ``_CHUNK_BYTES`` each.

    Cancellation reaches DuckDB whether the query is still starting (``execute`` runs a blocking query to
    its end) or already streaming."""

    def __init__(self, sandbox: DuckDBSandbox, connection: duckdb.DuckDBPyConnection | None,
                 sql: str | SandboxStream, capped: bool) -> None:  # fmt: skip
        self._sandbox = sandbox
        self._failed = False
        self.exhausted = False
        self.summary: float | None = None
        self._sent_schema = False
        self._cancelled = threading.Event()
        self._connection = connection
        self._stream: SandboxStream | None = None
        self._starting = threading.Event()
        if isinstance(sql, SandboxStream):  # started by its opener
            self._stream, self._engine = sql, 0.0
            on_cancel(self._cancel)
            return
        on_cancel(self._cancel)
        if self._cancelled.is_set():  # cancelled before it began: DuckDB has nothing to interrupt yet
            raise QueryCancelled("the query was cancelled")
        start = time.perf_counter()
        self._starting.set()
        assert connection is not None
        try:
            stream = sandbox.stream(connection, sql, capped=capped)
        except Exception:
            if self._cancelled.is_set():
                raise QueryCancelled("the query was cancelled") from None
            raise
        finally:
            self._engine = time.perf_counter() - start
            self._starting.clear()
        self._stream = stream
        if self._cancelled.is_set():
            stream.cancel()

    def _cancel(self) -> None:
        """On the child's control thread: stop the query wherever it is."""
        self._cancelled.set()
        # DuckDB ignores an interrupt that comes before its query started: repeat it while execute() begins
        while self._stream is None and self._starting.is_set() and self._connection is not None:
            self._connection.interrupt()
            time.sleep(0.01)
        if self._stream is not None:
            self._stream.cancel()

    def __iter__(self) -> _Chunks:
        return self

    def __next__(self) -> bytes:
        import pyarrow as pa

        stream = self._stream
        assert stream is not None
        if self.exhausted:
            raise StopIteration
        sink = pa.BufferOutputStream()
        size = 0
        with pa.ipc.new_stream(sink, stream.schema) as writer:
            while size < _CHUNK_BYTES:
                start = time.perf_counter()
                try:
                    batch = next(stream, None)
                except BaseException:
                    self._failed = True
                    raise
                finally:
                    self._engine += time.perf_counter() - start
                if batch is None:
                    self.exhausted = True
                    self.summary = self._engine * 1000
                    break
                writer.write_batch(batch)
                size += batch.nbytes
        data: bytes = sink.getvalue().to_pybytes()
        return data

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._connection is not None:
            self._sandbox.release_warm(self._connection, failed=self._failed or not self.exhausted)


def _stream_in_child(limits: SandboxLimits, store: S3Location | None, capped: bool, opener: Opener,
                     args: tuple[Any, ...]) -> _Chunks:  # fmt: skip
    """In the child: open the query with ``opener`` on this process's sandbox for ``limits``; its chunks."""
    sandbox = _SANDBOXES.get((limits, store))
    if sandbox is None:
        sandbox = _SANDBOXES[limits, store] = DuckDBSandbox(limits, prewarm=True, object_store=store)
    opened = opener(sandbox, *args)
    if isinstance(opened, SandboxStream):
        return _Chunks(sandbox, None, opened, capped)
    connection, sql = opened
    try:
        return _Chunks(sandbox, connection, sql, capped)
    except BaseException:
        sandbox._dispose(connection)
        sandbox.release_warm(connection, failed=True)
        raise


_CHILD_ENV = {
    "MESHPLANE_WORKER_PRELOAD": "pyarrow,duckdb,meshplane.engines.duckdb_isolated",
}


def prestart_query_process(limits: SandboxLimits | None = None) -> None:
    """Start a query child process now for the next :class:`IsolatedSandbox` with these limits."""
    prestart(process_limits(limits or SandboxLimits()), env=_CHILD_ENV)


class IsolatedStream:
    """A query running in a child: ``schema``, then record batches as the child sends them.

    Read by one thread (``schema`` included); :meth:`cancel` from any thread (the reader then gets
    QueryCancelled), :meth:`close` when done (before the end it frees the child at once). ``engine_ms`` is
    set once the end was read.
    """

    def __init__(
        self, remote: RemoteStream, limits: SandboxLimits, retry: Callable[[], RemoteStream] | None = None
    ) -> None:
        """Nothing is read yet: the query runs in its child, ``schema`` or the first batch waits for it (so
        a query can be cancelled while it starts). ``retry`` starts the query again in another child: used
        once, when its child dies before the first chunk (see :meth:`_read`)."""
        self._remote = remote
        self._limits = limits
        self._retry = retry
        self._pending: list[pa.RecordBatch] = []
        self._cancelled = False
        self._schema: pa.Schema | None = None
        self.engine_ms = 0.0

    @property
    def schema(self) -> pa.Schema:
        """The result's schema: waits for the query's first chunk (where its errors surface)."""
        if self._schema is None:
            self._schema = self._read()
            assert self._schema is not None  # the first chunk always carries the schema
        return self._schema

    def _read(self) -> pa.Schema | None:
        """Read the next chunk into the pending batches; its schema, or None at the end."""
        import pyarrow as pa

        try:
            data = self._remote.next_chunk()
        except LimitExceeded as error:
            if self._cancelled and error.limit == "process":
                raise QueryCancelled("the query was cancelled") from None
            retry, self._retry = self._retry, None
            if error.limit == "process" and self._schema is None and retry is not None:
                # Its child died (a crash, not a limit) before any row left it: a read runs again in a fresh
                # child once, as Trino's retry-policy QUERY does; a query that kills its child every time stops.
                _log.warning("a query's worker process stopped before answering (%s); running it in another", error)
                try:
                    self._remote = retry()
                except LimitExceeded as again:
                    raise QueryInterrupted(_limit_message(again, self._limits)) from None
                if self._cancelled:  # cancelled while the new child took the query: it reaches that child too
                    self._remote.cancel()
                return self._read()
            # The consumer sees only that the query stopped; the operator's log says how the child ended.
            _log.warning("a query's worker process ended the query: %s", error)
            raise QueryInterrupted(_limit_message(error, self._limits)) from None
        if self._remote.done and self._remote.summary is not None:
            self.engine_ms = float(self._remote.summary)
        if data is None:
            return None
        reader = pa.ipc.open_stream(data)
        self._pending.extend(reader)
        schema: pa.Schema = reader.schema
        return schema

    def __iter__(self) -> IsolatedStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        while True:
            if self._cancelled:  # batches already here are not handed out once the client cancelled
                self.close()
                raise QueryCancelled("the query was cancelled")
            if self._schema is None:
                self.schema  # noqa: B018 - reads the first chunk
                continue
            if self._pending:
                return self._pending.pop(0)
            if self._remote.done or self._read() is None:
                raise StopIteration

    def read_all(self) -> pa.Table:
        import pyarrow as pa

        return pa.Table.from_batches(list(self), schema=self.schema)

    def cancel(self) -> None:
        self._cancelled = True
        self._remote.cancel()

    def close(self) -> None:
        self._pending = []
        self._remote.close()

    def __enter__(self) -> IsolatedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _limit_message(error: LimitExceeded, limits: SandboxLimits) -> str:
    if error.limit == "time":
        return f"the query ran longer than {limits.timeout_seconds:g} s and was stopped"
    if error.limit == "memory":
        return f"the query exceeded its memory limit ({limits.memory_limit}) and was stopped"
    return "the query's worker process stopped; the query was not answered"


class IsolatedSandbox:
    """Runs governed SQL in limited child processes, shared fairly between users; thread-safe."""

    def __init__(self, limits: SandboxLimits | None = None, *, prewarm: bool = True,
                 object_store: S3Location | None = None, preload: Sequence[str] = ()) -> None:  # fmt: skip
        """``preload``: modules the children import before they take their first query (where the openers
        live), so a busy machine's import time does not count against a query's time limit."""
        self.limits = limits or SandboxLimits()
        # Goes to the children over their pipes (they start with a scrubbed environment, no AWS variables).
        self.object_store = object_store
        self.pool = WorkerPool(
            process_limits(self.limits),
            max_workers=self.limits.processes,
            per_owner=self.limits.per_user,
            env=_CHILD_ENV
            if not preload
            else {
                **_CHILD_ENV,
                "MESHPLANE_WORKER_PRELOAD": ",".join((_CHILD_ENV["MESHPLANE_WORKER_PRELOAD"], *preload)),
            },
        )
        if prewarm:
            self.pool.prestart()

    def open(self, owner: str, opener: Opener, *args: Any, capped: bool = True) -> IsolatedStream:
        """Start what ``opener(sandbox, *args)`` prepares in a child, as ``owner``; its stream.

        Raises QueryInterrupted when a limit stopped the query, the sandbox's own errors (QueryRejected
        subclasses) as they are, and DuckDB's errors (or :class:`~meshplane.engines.limits.RemoteError`
        with their kind) for the caller to sanitise.
        """

        def start() -> RemoteStream:
            return self.pool.stream(owner, _stream_in_child, self.limits, self.object_store, capped, opener, args)

        try:
            remote = start()
        except LimitExceeded as error:
            raise QueryInterrupted(_limit_message(error, self.limits)) from None
        return IsolatedStream(remote, self.limits, retry=start)

    def stream(self, owner: str, sql: str, allowed_files: Sequence[str], *, capped: bool = True) -> IsolatedStream:
        """Start ``sql`` reading only ``allowed_files``; ``capped=False`` lifts the row cap (see
        :meth:`DuckDBSandbox.stream`)."""
        return self.open(owner, _open_query, sql, tuple(allowed_files), owner, capped=capped)

    def run(self, owner: str, sql: str, allowed_files: Sequence[str]) -> tuple[pa.Table, float]:
        """The result of ``sql`` reading only ``allowed_files``, and DuckDB's milliseconds."""
        with self.stream(owner, sql, allowed_files) as stream:
            table = stream.read_all()
        return table, stream.engine_ms

    def close(self) -> None:
        """Stop the idle child processes."""
        self.pool.close()
