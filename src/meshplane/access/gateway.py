"""The governed query gateway: consumer SQL in, masked and filtered Arrow out, every query logged.

``QueryGateway.run`` parses the SQL (sqlglot, DuckDB dialect), guards it to one read-only statement,
resolves each port reference through the caller's resolver (which raises AccessDenied when the principal
may not read it), rewrites every reference into its governed subquery, and runs the result in a fresh
locked-down DuckDB database. Errors are sanitised; each attempt, allowed or not, is passed to ``on_query``
as a :class:`QueryLogEntry` with the statement's literals replaced by ``?``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlglot import exp

from meshplane.access.query_errors import QueryFailed, sanitize_engine_error
from meshplane.access.query_ports import PortResolver
from meshplane.access.rewrite import RewrittenQuery, rewrite_query
from meshplane.engines.duckdb_sandbox import DuckDBSandbox, SandboxLimits
from meshplane.errors import AccessDenied, MeshError, QueryRejected
from meshplane.sql import parse_query, render
from meshplane.types import Principal

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = ["Decision", "PortRead", "QueryGateway", "QueryLogEntry", "QueryLogger", "QueryResult"]


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
    """Parse, decide, rewrite and sandbox set-up: everything but DuckDB running the query."""
    decision: Decision = Decision.ALLOWED


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


class QueryGateway:
    """Runs consumer SQL under the grants a resolver reports; one instance serves many queries."""

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        on_query: QueryLogger | None = None,
        prewarm: bool = True,
    ) -> None:
        self.sandbox = DuckDBSandbox(limits, prewarm=prewarm)
        self._on_query = on_query

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
            tree = parse_query(sql)
            statement = _fingerprint(tree)
            decision = Decision.DENIED
            rewritten = rewrite_query(tree, resolver, consumer_key=consumer_key)
            ports = tuple(PortRead(p.address, p.version, p.snapshot_id) for p in rewritten.ports)
            decision = Decision.FAILED
            connection = self.sandbox.connect(rewritten.files)
            overhead_ms = _ms(start)
            table = self._execute(connection, rewritten, consumer_key)
            rows = table.num_rows
            decision = Decision.ALLOWED
            duration_ms = _ms(start)
            return QueryResult(table, ports, rows, duration_ms, overhead_ms)
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

    def _execute(self, connection: duckdb.DuckDBPyConnection, rewritten: RewrittenQuery, key: str) -> pa.Table:
        secrets = (key, *rewritten.files)
        try:
            return self.sandbox.execute(connection, rewritten.sql)
        except QueryRejected:
            raise
        except Exception as error:
            raise sanitize_engine_error(error, secrets=secrets) from None

    def close(self) -> None:
        """Release the sandbox's prepared database."""
        self.sandbox.close()


def _fingerprint(tree: exp.Expr) -> str:
    def blank(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Literal | exp.ByteString | exp.RawString | exp.HexString | exp.BitString):
            return exp.Placeholder()
        return node

    return render(tree.transform(blank))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
