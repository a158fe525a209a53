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
from typing import TYPE_CHECKING, TypeVar

from sqlglot import exp

from meshplane.access.query_errors import QueryFailed, sanitize_engine_error
from meshplane.access.query_ports import PortResolver
from meshplane.access.rewrite import RewrittenQuery, rewrite_query
from meshplane.engines.duckdb_isolated import IsolatedSandbox, IsolatedStream
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

T = TypeVar("T")

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
        """Run ``sql`` as ``principal``; raises QueryRejected, AccessDenied or QueryFailed (sanitised).

        The result is capped (``SandboxLimits.max_rows`` and ``max_result_bytes``): it is held whole here."""
        stream = self.stream(sql, principal, resolver, consumer_key=consumer_key, capped=True)
        with stream:
            stream.read_all()
        result = stream.result
        assert result is not None
        return result

    def stream(self, sql: str, principal: Principal, resolver: PortResolver, *, consumer_key: str,
               capped: bool = False) -> QueryStream:  # fmt: skip
        """:meth:`run`'s decisions, with the result handed out batch by batch as the child process makes it.

        A refused query raises at once (logged); an allowed one is logged when its stream ends or closes, with
        the rows handed out. ``capped=False`` (the wire protocol, which holds no result whole) lifts the row
        cap; the time and memory limits hold either way. :meth:`QueryStream.cancel` stops the query in its
        child process at once.
        """
        book = _Bookkeeping(self._on_query, principal.username, sql)
        try:
            tree, book.statement = self._parse(sql)
            book.decision = Decision.DENIED
            rewritten = rewrite_query(tree, resolver, consumer_key=consumer_key)
            book.ports = tuple(PortRead(p.address, p.version, p.snapshot_id) for p in rewritten.ports)
            book.decision = Decision.FAILED
            secrets = (consumer_key, *rewritten.files)
            try:
                inner = self.sandbox.stream(principal.username, rewritten.sql, rewritten.files, capped=capped)
            except QueryRejected:
                raise
            except Exception as error:
                raise sanitize_engine_error(error, secrets=secrets) from None
            return QueryStream(inner, book, secrets)
        except MeshError as error:
            book.fail(error)
            raise
        except Exception as error:
            book.fail(error)
            raise QueryFailed("the gateway failed to run the query; it was not run") from None

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

    def close(self) -> None:
        """Stop the sandbox's idle child processes."""
        self.sandbox.close()


class _Bookkeeping:
    """One query attempt's log entry, written exactly once: when it is refused, fails, ends or is closed."""

    def __init__(self, on_query: QueryLogger | None, principal: str, sql: str) -> None:
        self.on_query = on_query
        self.principal = principal
        self.sql = sql
        self.started_at = datetime.now(UTC)
        self.start = time.perf_counter()
        self.statement = ""
        self.ports: tuple[PortRead, ...] = ()
        self.decision = Decision.REJECTED
        self._lock = threading.Lock()
        self._written = False

    def fail(self, error: BaseException) -> None:
        """Log a failure; ``error`` is what the caller gets (sanitised already, or replaced by QueryFailed)."""
        if isinstance(error, AccessDenied):
            self.decision = Decision.DENIED
        elif isinstance(error, QueryRejected) and self.decision is Decision.DENIED:
            self.decision = Decision.REJECTED  # the SQL parsed but the rewrite refused it
        reason = str(error) if isinstance(error, MeshError) else "internal error"
        self.write(self.decision, 0, reason)

    def write(self, decision: Decision, rows: int, reason: str) -> None:
        with self._lock:
            if self._written:
                return
            self._written = True
        if self.on_query is not None:
            self.on_query(
                QueryLogEntry(
                    principal=self.principal,
                    statement=self.statement,
                    sql_sha256=hashlib.sha256(self.sql.encode("utf-8", "replace")).hexdigest(),
                    ports=self.ports,
                    rows=rows,
                    duration_ms=_ms(self.start),
                    decision=decision,
                    reason=reason,
                    started_at=self.started_at,
                )
            )


class QueryStream:
    """An allowed query's result as record batches: ``schema``, iteration, ``cancel()`` and ``close()``.

    Read by one thread; ``cancel()`` may come from any thread and stops the query in its child process at
    once (the reader gets QueryCancelled). ``close()`` before the end frees the child at once and logs the
    query as failed with the rows handed out so far; ``result`` is set once the end was read.
    """

    def __init__(self, inner: IsolatedStream, book: _Bookkeeping, secrets: tuple[str, ...]) -> None:
        self._inner = inner
        self._book = book
        self._secrets = secrets
        self.ports = book.ports
        self.rows = 0
        self.result: QueryResult | None = None
        self.on_close: Callable[[], None] | None = None
        self._cancelled = False
        self._batches: list[pa.RecordBatch] | None = None

    @property
    def schema(self) -> pa.Schema:
        """The result's schema; waits for the query to produce its first rows (its errors raise here)."""
        schema: pa.Schema = self._guarded(lambda: self._inner.schema)
        return schema

    def _guarded(self, read: Callable[[], T]) -> T:
        """``read()`` from the query's child, its failure logged and sanitised."""
        try:
            return read()
        except (StopIteration, QueryRejected) as error:
            if isinstance(error, QueryRejected):
                self._book.write(Decision.FAILED, self.rows, str(error))
            raise
        except Exception as error:
            failure = sanitize_engine_error(error, secrets=self._secrets)
            self._book.write(Decision.FAILED, self.rows, str(failure))
            raise failure from None

    def __iter__(self) -> QueryStream:
        return self

    def __next__(self) -> pa.RecordBatch:
        try:
            batch = self._guarded(lambda: next(self._inner))
        except StopIteration:
            self._end()
            raise
        self.rows += batch.num_rows
        if self._batches is not None:
            self._batches.append(batch)
        return batch

    def _end(self) -> None:
        import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

        if self.result is not None:
            return
        duration_ms = _ms(self._book.start)
        engine_ms = self._inner.engine_ms
        table = pa.Table.from_batches(self._batches or [], schema=self.schema)
        self.result = QueryResult(table, self.ports, self.rows, duration_ms, duration_ms - engine_ms,
                                  engine_ms=engine_ms)  # fmt: skip
        self._book.write(Decision.ALLOWED, self.rows, "")

    def read_all(self) -> pa.Table:
        """The rest of the result as one table (held whole: use it on capped streams)."""
        self._batches = []
        for _ in self:
            pass
        assert self.result is not None
        return self.result.table

    def cancel(self) -> None:
        self._cancelled = True
        self._inner.cancel()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            if self.result is None:
                what = "cancelled by its client" if self._cancelled else "closed by its client"
                self._book.write(Decision.FAILED, self.rows, f"the query was {what} after {self.rows} rows")
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
