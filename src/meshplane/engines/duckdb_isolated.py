"""Governed queries in limited child processes: the sandbox with a hard memory and time bound.

:class:`IsolatedSandbox` runs each query in a :class:`~meshplane.engines.duckdb_sandbox.DuckDBSandbox`
held by a long-lived child process of a :class:`~meshplane.engines.limits.WorkerPool`. The child's
address space is capped at ``memory_limit + headroom`` (RLIMIT_AS), so an allocation DuckDB's own
``memory_limit`` does not see (``len(range(2000000000))``, ``repeat()``) fails inside the child; a query
that outlives ``timeout_seconds`` is interrupted by the child's watchdog and, if it does not stop, its
child is killed. The calling process never runs consumer SQL, so it stays up and serves other users;
each user holds at most ``per_user`` of the ``processes`` children at once.

Results cross back as one Arrow IPC stream; the child reports how long DuckDB itself ran.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from meshplane.engines.duckdb_sandbox import DuckDBSandbox, QueryInterrupted, SandboxLimits
from meshplane.engines.limits import ProcessLimits, WorkerPool, parse_bytes, prestart
from meshplane.errors import LimitExceeded
from meshplane.storage.objectstore import S3Location

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["IsolatedSandbox", "prestart_query_process", "process_limits"]

_SANDBOXES: dict[tuple[SandboxLimits, S3Location | None], DuckDBSandbox] = {}
"""In a child: one sandbox per limits and warehouse (it keeps the next database ready while a query runs)."""


def process_limits(limits: SandboxLimits) -> ProcessLimits:
    """The child-process limits that bound a query run under ``limits``."""
    return ProcessLimits(
        memory_bytes=parse_bytes(limits.memory_limit) + parse_bytes(limits.headroom),
        wall_seconds=limits.timeout_seconds,
    )


def _run_in_child(
    limits: SandboxLimits, sql: str, files: tuple[str, ...], store: S3Location | None = None
) -> tuple[bytes, float]:
    """In the child: run the query; its Arrow IPC stream and DuckDB's milliseconds."""
    import pyarrow as pa

    sandbox = _SANDBOXES.get((limits, store))
    if sandbox is None:
        sandbox = _SANDBOXES[limits, store] = DuckDBSandbox(limits, prewarm=True, object_store=store)
    connection = sandbox.connect(files)
    start = time.perf_counter()
    table = sandbox.execute(connection, sql)
    engine_ms = (time.perf_counter() - start) * 1000
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes(), engine_ms


def prestart_query_process(limits: SandboxLimits | None = None) -> None:
    """Start a query child process now for the next :class:`IsolatedSandbox` with these limits."""
    prestart(process_limits(limits or SandboxLimits()))


class IsolatedSandbox:
    """Runs governed SQL in limited child processes, shared fairly between users; thread-safe."""

    def __init__(
        self, limits: SandboxLimits | None = None, *, prewarm: bool = True, object_store: S3Location | None = None
    ) -> None:
        self.limits = limits or SandboxLimits()
        # Goes to the children over their pipes (they start with a scrubbed environment, no AWS variables).
        self.object_store = object_store
        self.pool = WorkerPool(
            process_limits(self.limits),
            max_workers=self.limits.processes,
            per_owner=self.limits.per_user,
            # glibc reserves 64 MB of address space per thread arena; httpfs's request threads added enough
            # of them to reach RLIMIT_AS (the child aborted). Two arenas keep address space near real use.
            env={"MALLOC_ARENA_MAX": "2"},
        )
        if prewarm:
            self.pool.prestart()

    def run(self, owner: str, sql: str, allowed_files: Sequence[str]) -> tuple[pa.Table, float]:
        """The result of ``sql`` reading only ``allowed_files``, and DuckDB's milliseconds.

        Raises QueryInterrupted when a limit stopped the query, the sandbox's own errors (QueryRejected
        subclasses) as they are, and DuckDB's errors (or :class:`~meshplane.engines.limits.RemoteError`
        with their kind) for the caller to sanitise.
        """
        import pyarrow as pa

        try:
            stream, engine_ms = self.pool.call(
                owner, _run_in_child, self.limits, sql, tuple(allowed_files), self.object_store
            )
        except LimitExceeded as error:
            if error.limit == "time":
                message = f"the query ran longer than {self.limits.timeout_seconds:g} s and was stopped"
            elif error.limit == "memory":
                message = f"the query exceeded its memory limit ({self.limits.memory_limit}) and was stopped"
            else:
                message = "the query's worker process stopped; the query was not answered"
            raise QueryInterrupted(message) from None
        table: pa.Table = pa.ipc.open_stream(stream).read_all()
        return table, engine_ms

    def close(self) -> None:
        """Stop the idle child processes."""
        self.pool.close()
