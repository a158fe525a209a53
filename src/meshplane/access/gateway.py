"""The governed query gateway: consumer SQL in, masked and filtered Arrow out, every query logged.

``QueryGateway.run`` parses the SQL (sqlglot, DuckDB dialect), guards it to one read-only statement,
resolves each port reference through the caller's resolver (which raises AccessDenied when the principal
may not read it), rewrites every reference into its governed subquery, and runs the result in a fresh
locked-down DuckDB database inside a limited child process (:class:`IsolatedSandbox`: a hard memory
and time bound, a fair share of processes per user; the gateway's own process never runs consumer SQL).
Errors are sanitised; each attempt, allowed or not, is passed to ``on_query`` as a :class:`QueryLogEntry`
with the statement's literals replaced by ``?``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlglot import exp

from meshplane.access.query_errors import QueryFailed, sanitize_engine_error
from meshplane.access.query_ports import PortResolver
from meshplane.access.rewrite import RewrittenQuery, rewrite_query
from meshplane.engines.duckdb_isolated import IsolatedSandbox
from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.errors import AccessDenied, MeshError, QueryRejected
from meshplane.sql import parse_query, render
from meshplane.storage.objectstore import S3Location
from meshplane.types import Principal

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["Decision", "PortRead", "QueryGateway", "QueryLogEntry", "QueryLogger", "QueryResult", "QueryStream"]


class Decision(StrEnum):
    """What the gateway decided about one query."""

    ALLOWED = "allowed"
    REJECTED = "rejected"  # the SQL is not an allowed read-only query
    DENIED = "denied"  # a port may not be read by this principal
    FAILED = "failed"  # allowed, but the engine failed or a limit stopped it


@dataclass(frozen=True, slots=True)
class PortRead:
    """A port a query read: address, version and snapshot."""

    address: str
    version: str
    snapshot_id: int | None


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The answer to one allowed query."""

    table: pa.Table
    ports: tuple[PortRead, ...]
    rows: int
    duration_ms: float
    overhead_ms: float
    """Parse, decide, rewrite, the trip to the query's child process and its sandbox set-up: everything but
    DuckDB running the query."""
    decision: Decision = Decision.ALLOWED
    engine_ms: float = 0.0
    """DuckDB running the query, measured in its child process (the rest of ``duration_ms`` is the gateway's)."""


@dataclass(frozen=True, slots=True)
class QueryLogEntry:
    """One audited query attempt; holds no data values and no literal of the query."""

    principal: str
    statement: str
    """The query with every literal replaced by ``?``; empty when it did not parse."""
    sql_sha256: str
    ports: tuple[PortRead, ...]
    rows: int
    duration_ms: float
    decision: Decision
    reason: str
    started_at: datetime


QueryLogger = Callable[[QueryLogEntry], None]

_PARSED_SIZE = 256
_PARSED_MAX_TEXT = 20_000


class QueryGateway:
    """Runs consumer SQL under the grants a resolver reports; one instance serves many queries."""

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        on_query: QueryLogger | None = None,
        prewarm: bool = True,
        object_store: S3Location | None = None,
    ) -> None:
        self.sandbox = IsolatedSandbox(limits, prewarm=prewarm, object_store=object_store)
        self._on_query = on_query
        self._parsed: OrderedDict[str, tuple[exp.Expr, str]] = OrderedDict()
        self._parsed_lock = threading.Lock()

    def plan(self, sql: str, resolver: PortResolver, *, consumer_key: str) -> RewrittenQuery:
        """The rewritten SQL and the ports it reads, without running it (no logging)."""
        return rewrite_query(sql, resolver, consumer_key=consumer_key)

    def run(self, sql: str, principal: Principal, resolver: PortResolver, *, consumer_key: str) -> QueryResult:
        """Run ``sql`` as ``principal``; raises QueryRejected, AccessDenied or QueryFailed (sanitised)."""
        started_at = datetime.now(UTC)
        start = time.perf_counter()
        statement = ""
        ports: tuple[PortRead, ...] = ()
        decision = Decision.REJECTED
        reason = ""
        rows = 0
        try:
            tree, statement = self._parse(sql)
            decision = Decision.DENIED
            rewritten = rewrite_query(tree, resolver, consumer_key=consumer_key)
            ports = tuple(PortRead(p.address, p.version, p.snapshot_id) for p in rewritten.ports)
            decision = Decision.FAILED
            table, engine_ms = self._execute(principal.username, rewritten, consumer_key)
            overhead_ms = _ms(start) - engine_ms
            rows = table.num_rows
            decision = Decision.ALLOWED
            duration_ms = _ms(start)
            return QueryResult(table, ports, rows, duration_ms, overhead_ms, engine_ms=engine_ms)
        except AccessDenied as error:
            decision, reason = Decision.DENIED, str(error)
            raise
        except QueryRejected as error:
            if decision is Decision.DENIED:  # the SQL parsed but the rewrite refused it
                decision = Decision.REJECTED
            reason = str(error)
            raise
        except MeshError as error:
            reason = str(error)
            raise
        except Exception:
            reason = "internal error"
            raise QueryFailed("the gateway failed to run the query; it was not run") from None
        finally:
            if self._on_query is not None:
                self._on_query(
                    QueryLogEntry(
                        principal=principal.username,
                        statement=statement,
                        sql_sha256=hashlib.sha256(sql.encode("utf-8", "replace")).hexdigest(),
                        ports=ports,
                        rows=rows,
                        duration_ms=_ms(start),
                        decision=decision,
                        reason=reason,
                        started_at=started_at,
                    )
                )

    def stream(self, sql: str, principal: Principal, resolver: PortResolver, *, consumer_key: str,
               batch_size: int = 65_536) -> QueryStream:  # fmt: skip
        """:meth:`run`'s decision and result, handed out batch by batch (the wire protocol's entry point).

        The query runs in the isolated child process to its end (bounded by the row cap), then the batches
        are handed out; :meth:`QueryStream.cancel` stops the hand-out, not a query still running.
        """
        return QueryStream(self.run(sql, principal, resolver, consumer_key=consumer_key), batch_size)

    def _parse(self, sql: str) -> tuple[exp.Expr, str]:
        """A private copy of the parsed tree (to rewrite in place) and the statement's fingerprint.

        Parsing is a pure function of the text, so recent texts are kept parsed (rewrites get copies);
        texts that do not parse are never kept and fail again.
        """
        with self._parsed_lock:
            hit = self._parsed.get(sql)
            if hit is not None:
                self._parsed.move_to_end(sql)
        if hit is None:
            tree = parse_query(sql)
            hit = (tree, _fingerprint(tree))
            if len(sql) <= _PARSED_MAX_TEXT:
                with self._parsed_lock:
                    self._parsed[sql] = hit
                    while len(self._parsed) > _PARSED_SIZE:
                        self._parsed.popitem(last=False)
        return hit[0].copy(), hit[1]

    def _execute(self, owner: str, rewritten: RewrittenQuery, key: str) -> tuple[pa.Table, float]:
        secrets = (key, *rewritten.files)
        try:
            return self.sandbox.run(owner, rewritten.sql, rewritten.files)
        except QueryRejected:
            raise
        except Exception as error:
            raise sanitize_engine_error(error, secrets=secrets) from None

    def close(self) -> None:
        """Stop the sandbox's idle child processes."""
        self.sandbox.close()


class QueryStream:
    """An allowed query's result as record batches: ``schema``, iteration, ``cancel()`` and ``close()``."""

    def __init__(self, result: QueryResult, batch_size: int) -> None:
        self.result = result
        self.schema: pa.Schema = result.table.schema
        self.ports = result.ports
        self._batches = iter(result.table.to_batches(max_chunksize=batch_size))
        self._cancelled = False
        self.on_close: Callable[[], None] | None = None

    def __iter__(self) -> QueryStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self._cancelled:
            from meshplane.engines.duckdb_sandbox import QueryCancelled

            raise QueryCancelled("the query was cancelled")
        return next(self._batches)

    def read_all(self) -> pa.Table:
        return self.result.table

    def cancel(self) -> None:
        self._cancelled = True

    def close(self) -> None:
        self._batches = iter(())
        if self.on_close is not None:
            self.on_close()

    def __enter__(self) -> QueryStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fingerprint(tree: exp.Expr) -> str:
    def blank(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Literal | exp.ByteString | exp.RawString | exp.HexString | exp.BitString):
            return exp.Placeholder()
        return node

    return render(tree.transform(blank))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
