"""Access use cases: requests and grants, the governed query gateway, tokens, and ownership checks.

:class:`AccessService` wires the access layer (principals, decisions, ownership ledger, workflow, gateway)
to one mesh's catalog and tables. :class:`Connection` is what ``meshplane.connect(path, as_user=...)``
returns: ``.sql(text)`` answers a :class:`ResultTable` (an Arrow table with ``to_polars()`` and
``to_pandas()``). Every query, allowed or not, goes to the catalog's query log and its audit log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from meshplane.access import QueryGateway, QueryResult
from meshplane.access.agreements import AgreementView
from meshplane.access.gateway import Decision, QueryLogEntry, QueryStream
from meshplane.access.ownership import SpecChange
from meshplane.access.principals import consumer_key, load_secret, local_user
from meshplane.access.query_log import QueryLogWriter
from meshplane.access.workflow import RequestView
from meshplane.catalog import (
    AccessRequest,
    AccessRequestStatus,
    ApiToken,
    AuditEvent,
    Grant,
    QueryDecision,
)
from meshplane.catalog import QueryLogEntry as CatalogQueryEntry
from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.errors import AccessDenied, MeshError, UsageError
from meshplane.graph import MeshGraph
from meshplane.spec import ProductSpec
from meshplane.types import Address, EventKind, Principal
from meshplane.workspace.decisions import AccessDecisions
from meshplane.workspace.platform import Platform

if TYPE_CHECKING:
    import polars
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from meshplane.lineage.openlineage import LineageEmitter

__all__ = ["AccessService", "Connection", "PortSchema", "ResultTable", "warm_up_queries"]


def warm_up_queries(limits: SandboxLimits | None = None) -> None:
    """Start the query child process now, in the background, before the mesh opens (a one-shot ``meshplane
    query``) or while a server starts: its interpreter start overlaps that work instead of following it."""
    from meshplane.engines.duckdb_isolated import prestart_query_process

    prestart_query_process(limits)


_DECISIONS = {
    Decision.ALLOWED: QueryDecision.ALLOWED,
    Decision.DENIED: QueryDecision.DENIED,
    Decision.REJECTED: QueryDecision.REJECTED,
    Decision.FAILED: QueryDecision.ERROR,
}


class AccessService(AccessDecisions):
    """Access requests, grants, governed queries and ownership for one mesh."""

    def __init__(self, graph: MeshGraph, platform: Platform, *, limits: SandboxLimits | None = None) -> None:
        super().__init__(graph, platform)
        self.limits = limits

    def viewer(self, user: str | None = None) -> Principal:
        """Who a local command shows run errors and check samples to: ``user`` (``--as``), else
        ``$MESHPLANE_USER``, else the operating-system user. A name ``mesh.yaml`` does not declare owns
        nothing, so it sees what any non-owner sees (fail closed)."""
        name = local_user(user)
        return self.authority.known(name) or Principal(username=name, teams=frozenset())

    @cached_property
    def gateway(self) -> QueryGateway:
        return QueryGateway(limits=self.limits, on_query=self._log_query, object_store=self.platform.object_store)

    @cached_property
    def query_log_writer(self) -> QueryLogWriter:
        """Writes each query's log entry and audit event in the background, in small transactions."""
        return QueryLogWriter(self.catalog.writer)

    @cached_property
    def _secret(self) -> bytes:
        return load_secret(self.graph.spec.root / ".meshplane")

    def consumer_key(self, username: str) -> str:
        """The key the ``hash`` mask salts ``username``'s values with."""
        return consumer_key(self._secret, username)

    def flush(self) -> None:
        """Write every query log entry and audit event still queued."""
        if "query_log_writer" in self.__dict__:
            self.query_log_writer.flush()

    def close(self) -> None:
        if "gateway" in self.__dict__:
            self.gateway.close()
            del self.__dict__["gateway"]
        if "query_log_writer" in self.__dict__:
            self.query_log_writer.close()
            del self.__dict__["query_log_writer"]
        lineage = self.__dict__.pop("_query_lineage", None)
        if lineage is not None:
            lineage.close(timeout=15.0)

    # --- requests and grants ----------------------------------------------------------------------

    def request_access(
        self,
        user: str,
        port: str,
        purpose: str,
        columns: Sequence[str] = (),
        until: str | date | datetime | None = None,
    ) -> AccessRequest:
        self.flush()  # queued query events go first: the audit log stays in order
        request = self.workflow.request(user, port, purpose, columns, until)
        self._tell(EventKind.ACCESS_REQUESTED, request)
        if request.status is not AccessRequestStatus.PENDING:  # approved at once (autoApprove)
            self._tell(EventKind.ACCESS_DECIDED, request)
        return request

    def list_requests(self, user: str, *, pending: bool = False) -> list[RequestView]:
        return self.workflow.requests(user, pending=pending)

    def approve(self, user: str, request_id: str, row_filter: str | None = None, note: str = "") -> Grant:
        self.flush()  # queued query events go first: the audit log stays in order
        grant = self.workflow.approve(user, request_id, row_filter, note)
        self._tell(EventKind.ACCESS_DECIDED, request_id)
        return grant

    def deny(self, user: str, request_id: str, note: str = "") -> AccessRequest:
        self.flush()  # queued query events go first: the audit log stays in order
        request = self.workflow.deny(user, request_id, note)
        self._tell(EventKind.ACCESS_DECIDED, request)
        return request

    def revoke(self, user: str, request_id: str, note: str = "") -> AccessRequest:
        self.flush()  # queued query events go first: the audit log stays in order
        request = self.workflow.revoke(user, request_id, note)
        self._tell(EventKind.ACCESS_REVOKED, request)
        return request

    def _tell(self, kind: EventKind, request: AccessRequest | str) -> None:
        """The requester and the port's owners hear of it (stored in the outbox; delivered elsewhere)."""
        from meshplane.workspace.notices import access_notice
        from meshplane.workspace.notifying import NotificationService

        if isinstance(request, str):
            found = self.catalog.reader.access_request(request)
            if found is None:
                return
            request = found
        service = NotificationService(self.graph, self.platform)
        consumer = getattr(request, "product", None)  # set on a product agreement (a product's request)
        if consumer:
            from meshplane.workspace.notices import agreement_notice

            agreement = {EventKind.ACCESS_REQUESTED: EventKind.AGREEMENT_REQUESTED,
                         EventKind.ACCESS_REVOKED: EventKind.AGREEMENT_REVOKED}.get(kind)  # fmt: skip
            if agreement is not None:
                actor = request.decided_by or request.requester
                notice = agreement_notice(self.graph, agreement, consumer=Address.parse(consumer),
                                          port=Address.parse(request.port), agreement_id=request.id, actor=actor,
                                          note=request.note)  # fmt: skip
                service.emit(notice)
                return
        service.emit(access_notice(self.graph, kind, request))

    def request_agreement(
        self,
        user: str,
        product: str,
        port: str,
        purpose: str,
        columns: Sequence[str] = (),
        until: str | date | datetime | None = None,
        unmasked: Sequence[str] = (),
    ) -> AccessRequest:
        """Ask, for ``product`` (its owner team's member ``user``), to read ``port`` in its builds.

        The port's deciders approve, deny or revoke it like any request (:meth:`approve`)."""
        self.flush()  # queued query events go first: the audit log stays in order
        request = self.agreements.request(user, product, port, purpose, columns, until, unmasked)
        self._tell_requested(request)
        return request

    def _tell_requested(self, request: AccessRequest) -> None:
        """Both products' teams hear of a new agreement (and of its decision when it was approved at once)."""
        self._tell(EventKind.ACCESS_REQUESTED, request)
        if request.status.value != "pending":
            self._tell(EventKind.ACCESS_DECIDED, request)

    def request_declared_agreements(self, user: str, product: str | None = None,
                                    default_purpose: str | None = None) -> list[AccessRequest]:  # fmt: skip
        """Request the agreements the input ports declare (``purpose``, ``columns``) and do not hold yet
        (with ``default_purpose``, also those of input ports that declare none: all columns)."""
        self.flush()
        requests = self.agreements.request_declared(user, product, default_purpose)
        for request in requests:
            self._tell_requested(request)
        return requests

    def list_agreements(self, product: str | None = None, port: str | None = None) -> list[AgreementView]:
        return self.agreements.views(product=product, port=port)

    def record_read(self, principal: str, port: str, decision: QueryDecision, reason: str) -> None:
        """A build's read of a port (allowed or refused), in the query log like a consumer's query."""
        # (the build's own OpenLineage run names its inputs: no query event for them)
        self._record(principal, f"-- build input {port}", "", (port,), decision, None, 0.0, reason, emit=False)

    def grants(self, user: str | None = None, port: str | None = None) -> list[Grant]:
        """Grants in force now."""
        return self.catalog.reader.grants(grantee=user, port=port)

    def create_token(self, user: str, *, actor: str | None = None, name: str = "",
                     expires_at: datetime | None = None) -> tuple[str, ApiToken]:  # fmt: skip
        """A new API token for ``user``, created by ``actor`` (default: the user); the plaintext is shown once."""
        self.flush()  # queued query events go first: the audit log stays in order
        days = self.graph.spec.config.platform.token_days
        return self.workflow.create_token(actor or user, user, name=name, expires_at=expires_at, days=days)

    def tokens(self, actor: str, user: str | None = None) -> list[ApiToken]:
        """``user``'s API tokens (default: the actor's), active, expired and revoked, newest first."""
        return self.workflow.tokens(actor, user)

    def revoke_token(self, actor: str, token_id: str) -> ApiToken:
        """Revoke one API token (its user or the platform team); it stops working at once."""
        self.flush()  # queued query events go first: the audit log stays in order
        return self.workflow.revoke_token(actor, token_id)

    def user_for_token(self, token: str) -> str | None:
        """The user an API token authenticates (None when it is unknown, revoked or expired)."""
        username = self.catalog.reader.verify_token(token)
        return username if username is not None and self.directory.is_known(username) else None

    def scram_verifiers(self, user: str) -> list[str]:
        """SCRAM-SHA-256 verifiers of ``user``'s tokens in force (none for a user the mesh does not know)."""
        return self.catalog.reader.scram_verifiers(user) if self.directory.is_known(user) else []

    def audit_log(self, **filters: Any) -> list[AuditEvent]:
        self.flush()
        return self.catalog.reader.audit_log(**filters)

    def query_log(self, **filters: Any) -> list[CatalogQueryEntry]:
        self.flush()
        return self.catalog.reader.query_log(**filters)

    # --- queries ----------------------------------------------------------------------------------

    def query(self, user: str, sql: str) -> QueryResult:
        """Run ``sql`` as ``user`` through the governed gateway; logged and audited whatever the outcome."""
        try:
            principal = self.directory.principal(user)
        except AccessDenied as error:
            self._record(user, "", hashlib.sha256(sql.encode("utf-8", "replace")).hexdigest(), (),
                         QueryDecision.DENIED, None, 0.0, str(error))  # fmt: skip
            raise
        resolver = self.policy.resolver(principal)
        try:
            return self.gateway.run(sql, principal, resolver, consumer_key=self.consumer_key(user))
        finally:
            # Audited before anything is returned: a result whose log entry cannot be written is not handed
            # out (the flush raises). Concurrent queries share one write transaction.
            self.flush()

    def stream(self, user: str, sql: str, *, capped: bool = True) -> QueryStream:
        """Start ``sql`` as ``user`` through the governed gateway; its batches are read as DuckDB makes them.

        The same decisions as :meth:`query`. A refused query is logged and raises at once; an allowed one is
        logged when the stream ends or is closed (with the rows handed out), and closing flushes the log.
        ``capped=False`` lifts the row cap for a reader that holds no result whole (the wire protocol).
        """
        try:
            principal = self.directory.principal(user)
        except AccessDenied as error:
            self._record(user, "", hashlib.sha256(sql.encode("utf-8", "replace")).hexdigest(), (),
                         QueryDecision.DENIED, None, 0.0, str(error))  # fmt: skip
            self.flush()
            raise
        resolver = self.policy.resolver(principal)
        try:
            stream = self.gateway.stream(sql, principal, resolver, consumer_key=self.consumer_key(user),
                                         capped=capped)  # fmt: skip
        except BaseException:
            self.flush()
            raise
        stream.on_close = self.flush
        return stream

    def readable_ports(self, user: str) -> list[PortSchema]:
        """Every published port ``user`` may query now, with the columns ``SELECT *`` gives them.

        Decided port by port by the same policy and rewrite as a query (masks change a column's type, ungranted
        columns are absent); nothing is read but the files' schemas, and nothing is logged: no data leaves.
        """
        import sqlglot
        from sqlglot import exp

        from meshplane.sql import render

        principal = self.directory.principal(user)
        resolver = self.policy.resolver(principal)
        key = self.consumer_key(user)
        found: list[PortSchema] = []
        for record in self.catalog.reader.ports():
            select = exp.select(exp.Star()).from_(exp.to_table(record.address))
            try:
                rewritten = self.gateway.plan(render(select), resolver, consumer_key=key)
                inner = sqlglot.parse_one(rewritten.sql, read="duckdb")
                empty = exp.select(exp.Star()).from_(
                    exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("q")))
                )
                schema = self.gateway.sandbox.run(user, render(empty.limit(0)), rewritten.files)[0].schema
            except MeshError:
                continue  # not readable by this user (or not built yet): not listed
            except Exception:  # the engine could not describe it: not listed rather than a failed catalog
                continue
            comments = {c.name: c.description for c in record.columns if c.description}
            primary = tuple(c.name for c in record.columns if c.primary_key)
            required = frozenset(c.name for c in record.columns if c.required)
            found.append(PortSchema(record.address, record.description, schema, comments, primary, required))
        return found

    def connect(self, user: str, *, on_close: Callable[[], None] | None = None) -> Connection:
        """A query connection acting as ``user`` (refused at once for users the mesh does not know)."""
        self.directory.principal(user)
        return Connection(self, user, on_close=on_close)

    def _log_query(self, entry: QueryLogEntry) -> None:
        self._record(entry.principal, entry.statement, entry.sql_sha256, tuple(p.address for p in entry.ports),
                     _DECISIONS[entry.decision], entry.rows, entry.duration_ms, entry.reason)  # fmt: skip

    def _record(self, user: str, statement: str, sql_hash: str, ports: tuple[str, ...], decision: QueryDecision,
                rows: int | None, duration_ms: float, reason: str, *, emit: bool = True) -> None:  # fmt: skip
        entry = CatalogQueryEntry(username=user, sql=statement, decision=decision, ports=ports,
                                  rows=rows if decision is QueryDecision.ALLOWED else None,
                                  duration_ms=round(duration_ms, 3), error=reason or None, sql_hash=sql_hash,
                                  at=datetime.now(UTC))  # fmt: skip
        detail = {"decision": decision.value, "ports": list(ports), "rows": rows,
                  "duration_ms": round(duration_ms, 3), "reason": reason}  # fmt: skip
        self.query_log_writer.submit(entry, detail)  # the audit event gets the query id when written
        if emit and self._query_lineage is not None:
            at = entry.at or datetime.now(UTC)
            query_id = sql_hash[:16] + at.strftime("%H%M%S%f")
            self._query_lineage.emit_query(user, ports, query_id, decision is QueryDecision.ALLOWED, at, reason or None)

    @cached_property
    def _query_lineage(self) -> LineageEmitter | None:
        """Consumer queries send OpenLineage events only when mesh.yaml says ``openlineage: {queries: true}``."""
        from meshplane.lineage.openlineage import LineageEmitter, lineage_configured

        config = self.graph.spec.config.openlineage
        if config is None or not config.queries or not lineage_configured(self.graph):
            return None
        return LineageEmitter(self.graph)

    # --- ownership --------------------------------------------------------------------------------

    def _product(self, product: ProductSpec | str | Address) -> ProductSpec:
        if isinstance(product, ProductSpec):
            return product
        return self.ledger._product(product)

    def assert_may_build(self, user: str, product: ProductSpec | str | Address) -> None:
        """AccessDenied unless ``user`` is in the product's owner team or the platform team."""
        self.authority.may_build(self.directory.principal(user), str(self._product(product).address)).require()

    def spec_changes(self, product: str | Address | None = None) -> list[SpecChange]:
        """Loosening spec changes waiting for approval (of one product, or of the whole mesh)."""
        products = [self._product(product)] if product is not None else list(self.graph.products.values())
        return [change for spec in products for change in self.ledger.pending(spec.address)]

    def approve_spec_change(self, user: str, product: str | Address, change_id: str) -> SpecChange:
        """Record the current owner's (or the governance team's) approval of one spec change."""
        self.flush()  # queued query events go first: the audit log stays in order
        return self.ledger.approve(user, product, change_id)

    def ensure_baselines(self, actor: str | None = None) -> None:
        """Record each product's protective facts before specs are synced into the catalog (idempotent)."""
        self.flush()  # queued query events go first: the audit log stays in order
        self.ledger.ensure_baselines(local_user(actor))

    def build_gate(self, user: str | None = None) -> Callable[[ProductSpec], None]:
        """The ownership part of the build gate.

        Call it *before* syncing specs into the catalog. With an acting ``user`` (``--as`` or
        ``$MESHPLANE_USER``), only the owner team or the platform team may build; whoever builds, a spec
        change that loosens access is refused until approved.
        """
        actor = local_user(user)
        self.flush()
        self.ledger.ensure_baselines(actor)

        def gate(product: ProductSpec) -> None:
            if user is not None:
                self.authority.may_build(self.directory.principal(user), str(product.address)).require()
            self.ledger.assert_approved(product.address, actor=actor)

        return gate


@dataclass(frozen=True, slots=True)
class PortSchema:
    """A port as one user may query it: address, description, result schema and column comments."""

    address: str
    description: str
    schema: pa.Schema
    comments: Mapping[str, str]
    primary_key: tuple[str, ...] = ()
    """The contract's primary-key columns, in order (metadata: SQL clients show them as a table's key)."""
    required: frozenset[str] = frozenset()
    """Columns the contract declares required (never null)."""


class ResultTable:
    """A query's answer: an Arrow table (every ``pyarrow.Table`` attribute works) with conversion helpers."""

    __slots__ = ("arrow", "duration_ms", "engine_ms", "ports")

    def __init__(self, result: QueryResult) -> None:
        self.arrow: pa.Table = result.table
        self.ports = tuple(p.address for p in result.ports)
        self.duration_ms = result.duration_ms
        self.engine_ms = result.engine_ms
        """The part of the query DuckDB spent running it; the rest is the gateway's own work."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self.arrow, name)

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.arrow.__arrow_c_stream__(requested_schema)

    def __len__(self) -> int:
        return int(self.arrow.num_rows)

    def __getitem__(self, key: Any) -> Any:
        return self.arrow[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.arrow.columns)

    def __eq__(self, other: object) -> bool:
        other_table = other.arrow if isinstance(other, ResultTable) else other
        return bool(self.arrow.equals(other_table)) if hasattr(other_table, "schema") else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ResultTable({self.arrow.num_rows} rows)\n{self.arrow}"

    def to_arrow(self) -> pa.Table:
        return self.arrow

    def to_polars(self) -> polars.DataFrame:
        try:
            import polars as pl
        except ImportError:
            raise ImportError("to_polars() needs Polars; run: pip install polars") from None
        frame = pl.from_arrow(self.arrow)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_pandas(self, **options: Any) -> Any:
        """A ``pandas.DataFrame`` (pandas ships no type information, hence ``Any``)."""
        try:
            import pandas  # type: ignore[import-untyped, unused-ignore]  # noqa: F401
        except ImportError:
            raise ImportError("to_pandas() needs pandas; run: pip install pandas") from None
        return self.arrow.to_pandas(**options)


class Connection:
    """A governed query connection acting as one user: ``connection.sql("SELECT ...")``."""

    def __init__(self, service: AccessService, user: str, *, on_close: Callable[[], None] | None = None) -> None:
        self._service = service
        self.user = user
        self._on_close = on_close
        self._closed = False

    def sql(self, text: str) -> ResultTable:
        """Run one read-only query; raises AccessDenied, QueryRejected or QueryFailed (all MeshErrors)."""
        if self._closed:
            raise UsageError("the connection is closed")
        return ResultTable(self._service.query(self.user, text))

    def stream(self, text: str) -> QueryStream:
        """Start one read-only query and read its Arrow batches as they come (close the stream when done);
        the row cap of :meth:`sql` holds."""
        if self._closed:
            raise UsageError("the connection is closed")
        return self._service.stream(self.user, text)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._on_close is not None:
                self._on_close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
