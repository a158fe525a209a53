"""The write side of the catalog store. Every call is one transaction (retried while SQLite is busy)."""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meshplane.catalog import convert, schema, search
from meshplane.catalog.database import Database
from meshplane.catalog.records import (
    AccessRequest,
    AccessRequestStatus,
    ApiToken,
    AuditEvent,
    CheckResult,
    Grant,
    MeshSnapshot,
    PolicyResult,
    ProfileRecord,
    QueryLogEntry,
    RunRecord,
    RunStatus,
    SloEvaluation,
)
from meshplane.catalog.tokens import new_token, scram_salt, scram_verifier
from meshplane.errors import CatalogError

__all__ = ["CatalogWriter"]

# The setting holding the hash of the mesh state the spec-derived rows were last synced from.
MESH_STATE = "mesh_state"
# PostgreSQL advisory lock key serialising sync_mesh between processes (SQLite: BEGIN IMMEDIATE).
_SYNC_LOCK_KEY = 0x6D657368


def _insert_many(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        conn.execute(sa.insert(table), list(rows[start : start + 5000]))


def _check_rows(run_id: str, results: Iterable[CheckResult]) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "rule_id": c.rule_id, "port": c.port, "column_name": c.column,
         "metric": c.metric, "observed": c.observed, "threshold": c.threshold, "passed": c.passed,
         "severity": c.severity, "sample": [convert.json_value(s) for s in c.sample]}
        for c in results
    ]  # fmt: skip


def _profile_rows(profiles: Iterable[ProfileRecord]) -> list[dict[str, Any]]:
    return [
        {"run_id": p.run_id, "port": p.port, "profiled_at": p.profiled_at, "row_count": p.row_count,
         "columns": [convert.json_value(c) for c in p.columns]}
        for p in profiles
    ]  # fmt: skip


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class CatalogWriter:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._search = search.dialect_for(db.dialect)

    # --- the mesh's specs ------------------------------------------------------------------------

    def sync_mesh(self, snapshot: MeshSnapshot, *, state: str | None = None) -> None:
        """Replace every spec-derived row and the search index; history tables are kept.

        New product and port versions are recorded (with the product's ``changes``) the first time
        they are seen. ``state`` (a hash of what the snapshot was made from) is stored with the rows, in
        the same transaction, as the ``mesh_state`` setting (removed when not given).
        """
        domains = [
            {"name": d.name, "title": d.title, "description": d.description, "owner_team": d.owner_team}
            for d in snapshot.domains
        ]
        products: list[dict[str, Any]] = []
        ports: list[dict[str, Any]] = []
        columns: list[dict[str, Any]] = []
        versions: list[dict[str, Any]] = []
        for p in snapshot.products:
            products.append({
                "address": p.address, "domain": p.domain, "version": p.version, "status": p.status,
                "type": p.type, "owner_team": p.owner_team, "title": p.title,
                "description": p.description, "tags": list(p.tags), "access_level": p.access_level,
            })  # fmt: skip
            versions.append({"address": p.address, "version": p.version, "changes": list(p.changes)})
            for port in p.ports:
                ports.append({
                    "address": port.address, "product": p.address, "version": port.version,
                    "status": port.status, "access_level": port.access_level,
                    "description": port.description, "contract": dict(port.contract),
                })  # fmt: skip
                versions.append({"address": port.address, "version": port.version, "changes": []})
                columns.extend({
                    "port": port.address, "name": c.name, "position": i, "logical_type": c.logical_type,
                    "physical_type": c.physical_type, "classification": c.classification,
                    "description": c.description, "semantic_type": c.semantic_type,
                    "required": c.required, "primary_key": c.primary_key,
                } for i, c in enumerate(port.columns))  # fmt: skip
        glossary = [
            {"name": t.name, "title": t.title, "description": t.description,
             "logical_type": t.logical_type, "classification": t.classification}
            for t in snapshot.glossary
        ]  # fmt: skip
        teams = [{"name": t.name, "title": t.title} for t in snapshot.teams]
        members = [{"team": t.name, "username": m.username, "role": m.role} for t in snapshot.teams for m in t.members]
        edges = [{"upstream": e.upstream, "downstream": e.downstream} for e in set(snapshot.lineage)]
        column_edges = [
            {"upstream_port": e.upstream_port, "upstream_column": e.upstream_column,
             "downstream_port": e.downstream_port, "downstream_column": e.downstream_column}
            for e in set(snapshot.column_lineage)
        ]  # fmt: skip
        replaced = (
            (schema.domains, domains), (schema.products, products), (schema.ports, ports),
            (schema.columns, columns), (schema.glossary_terms, glossary), (schema.teams, teams),
            (schema.team_members, members), (schema.lineage_edges, edges),
            (schema.column_lineage, column_edges),
        )  # fmt: skip

        def work(conn: Connection) -> None:
            self._serialise(conn)
            for table, rows in replaced:
                conn.execute(sa.delete(table))
                _insert_many(conn, table, rows)
            v = schema.versions
            known = set(conn.execute(sa.select(v.c.address, v.c.version)).tuples())
            at = convert.now()
            by_key = {(r["address"], r["version"]): r for r in versions}
            new = sorted(by_key.keys() - known)
            _insert_many(conn, v, [{**by_key[k], "recorded_at": at} for k in new])
            search.reindex(conn, self._search, snapshot)
            conn.execute(sa.delete(schema.settings).where(schema.settings.c.key == MESH_STATE))
            if state is not None:
                conn.execute(sa.insert(schema.settings), {"key": MESH_STATE, "value": state})

        self._db.write(work)

    def _serialise(self, conn: Connection) -> None:
        """Writers that replace rows (delete, then insert) take turns on PostgreSQL, where two concurrent
        transactions would both insert and one fail on the key; SQLite's one writer at a time already does."""
        if self._db.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SYNC_LOCK_KEY)))

    def put_settings(self, values: Mapping[str, str]) -> None:
        """Set key/value settings (e.g. the files a repository published to the platform), one transaction."""

        def work(conn: Connection) -> None:
            self._serialise(conn)  # two builders publishing at once: delete-then-insert of one key must not race
            t = schema.settings
            for key, value in values.items():
                conn.execute(sa.delete(t).where(t.c.key == key))
                conn.execute(sa.insert(t), {"key": key, "value": value})

        self._db.write(work)

    # --- runs and their results ------------------------------------------------------------------

    def start_run(
        self,
        product: str,
        *,
        port: str | None = None,
        engine: str = "",
        trigger: str = "",
        run_id: str | None = None,
        started_at: datetime | None = None,
    ) -> RunRecord:
        """Record a run as ``running``, with this process's pid and host for crash detection."""
        record = RunRecord(
            run_id=run_id or secrets.token_hex(8), product=product, port=port, status=RunStatus.RUNNING,
            started_at=started_at or convert.now(), engine=engine, trigger=trigger, pid=os.getpid(),
            host=socket.gethostname(),
        )  # fmt: skip
        self.record_run(record)
        return record

    def record_run(self, run: RunRecord) -> None:
        """Insert a run as given (e.g. a ``skipped`` one that never started)."""
        row = {
            "run_id": run.run_id, "product": run.product, "port": run.port, "status": run.status.value,
            "started_at": run.started_at, "ended_at": run.ended_at, "rows_written": run.rows_written,
            "snapshot_id": run.snapshot_id, "error": run.error, "engine": run.engine,
            "trigger": run.trigger, "pid": run.pid, "host": run.host,
        }  # fmt: skip
        self._db.write(lambda conn: conn.execute(sa.insert(schema.runs), row))

    def finish_run(
        self,
        run_id: str,
        status: RunStatus,
        *,
        rows_written: int | None = None,
        snapshot_id: str | None = None,
        error: str | None = None,
        ended_at: datetime | None = None,
        check_results: Iterable[CheckResult] = (),
        profiles: Iterable[ProfileRecord] = (),
    ) -> RunRecord:
        """End a running run; refuses runs that are unknown or already ended. ``check_results`` and the ports'
        ``profiles`` are stored in the same transaction (as :meth:`record_check_results` would)."""
        if status is RunStatus.RUNNING:
            raise ValueError("finish_run needs a final status, not 'running'")
        r = schema.runs
        checks = _check_rows(run_id, check_results)
        measured = _profile_rows(profiles)

        def work(conn: Connection) -> RunRecord:
            updated = conn.execute(
                sa.update(r)
                .where(r.c.run_id == run_id, r.c.status == RunStatus.RUNNING.value)
                .values(
                    status=status.value,
                    ended_at=ended_at or convert.now(),
                    rows_written=rows_written,
                    snapshot_id=snapshot_id,
                    error=error,
                )
            )
            row = conn.execute(sa.select(r).where(r.c.run_id == run_id)).mappings().one_or_none()
            if row is None:
                raise CatalogError(f"run {run_id!r} is not in the catalog")
            if updated.rowcount == 0:
                raise CatalogError(f"run {run_id!r} already ended as {row['status']}")
            if checks:
                _insert_many(conn, schema.check_results, checks)
            if measured:
                _insert_many(conn, schema.profiles, measured)
            return convert.run(row)

        return self._db.write(work)

    def mark_interrupted_runs(self, *, older_than: timedelta | None = None) -> list[str]:
        """Mark ``running`` runs as ``interrupted`` when their process on this host is gone, or when
        they started more than ``older_than`` ago (any host). Returns the run ids marked."""
        r, host = schema.runs, socket.gethostname()
        with self._db.read() as conn:  # the common case, nothing running, costs no write transaction
            if (
                conn.execute(sa.select(r.c.run_id).where(r.c.status == RunStatus.RUNNING.value).limit(1)).first()
                is None
            ):
                return []

        def work(conn: Connection) -> list[str]:
            at = convert.now()
            running = conn.execute(
                sa.select(r.c.run_id, r.c.pid, r.c.host, r.c.started_at).where(r.c.status == RunStatus.RUNNING.value)
            ).all()
            stale: list[str] = []
            for run_id, pid, run_host, started_at in running:
                too_old = older_than is not None and started_at < at - older_than
                gone = run_host == host and pid is not None and pid != os.getpid() and not _pid_alive(pid)
                if too_old or gone:
                    stale.append(run_id)
            if stale:
                conn.execute(
                    sa.update(r)
                    .where(r.c.run_id.in_(stale), r.c.status == RunStatus.RUNNING.value)
                    .values(status=RunStatus.INTERRUPTED.value, ended_at=at, error="process ended mid-run")
                )
            return stale

        return self._db.write(work)

    def record_check_results(self, run_id: str, results: Iterable[CheckResult]) -> None:
        rows = _check_rows(run_id, results)
        if rows:
            self._db.write(lambda conn: _insert_many(conn, schema.check_results, rows))

    def record_profiles(self, profiles: Iterable[ProfileRecord]) -> None:
        """Store port profiles of runs already recorded (a build stores its own through :meth:`finish_run`)."""
        rows = _profile_rows(profiles)
        if rows:
            self._db.write(lambda conn: _insert_many(conn, schema.profiles, rows))

    def record_policy_results(
        self,
        evaluation_id: str,
        results: Iterable[PolicyResult],
        *,
        evaluated_at: datetime | None = None,
        audit: tuple[str, str, str, Mapping[str, Any]] | None = None,
    ) -> None:
        """An evaluation's results, and ``audit`` (actor, action, subject, detail: its summary) in the same
        transaction."""
        at = evaluated_at or convert.now()
        rows = [
            {"evaluation_id": evaluation_id, "evaluated_at": at, "policy_id": p.policy_id,
             "subject": p.subject, "outcome": p.outcome, "message": p.message, "location": p.location,
             "severity": p.severity}
            for p in results
        ]  # fmt: skip

        def work(conn: Connection) -> None:
            if rows:
                _insert_many(conn, schema.policy_results, rows)
            if audit is not None:
                _audit(conn, *audit)

        if rows or audit is not None:
            self._db.write(work)

    def record_slo_evaluations(self, evaluations: Iterable[SloEvaluation]) -> None:
        at = convert.now()
        rows = [
            {"port": e.port, "slo": e.slo, "status": e.status, "observed": e.observed, "target": e.target,
             "evidence": dict(e.evidence), "evaluated_at": e.evaluated_at or at}
            for e in evaluations
        ]  # fmt: skip
        if rows:
            self._db.write(lambda conn: _insert_many(conn, schema.slo_evaluations, rows))

    # --- audit log (append-only), access requests, grants, tokens, query log ----------------------

    def append_audit(
        self, actor: str, action: str, subject: str, detail: Mapping[str, Any] | None = None
    ) -> AuditEvent:
        return self._db.write(lambda conn: _audit(conn, actor, action, subject, detail or {}))

    def append_audits(self, events: Sequence[tuple[str, str, str, Mapping[str, Any]]]) -> list[AuditEvent]:
        """Several audit events, (actor, action, subject, detail) each, in order and in one transaction."""
        if not events:
            return []
        return self._db.write(lambda conn: [_audit(conn, *event) for event in events])

    def create_access_request(
        self,
        requester: str,
        port: str,
        purpose: str,
        *,
        columns: Sequence[str] = (),
        until: datetime | None = None,
        product: str | None = None,
        unmasked: Sequence[str] = (),
    ) -> AccessRequest:
        """A pending request of ``requester``; with ``product`` it is that product's agreement request."""
        request = AccessRequest(
            id=secrets.token_hex(6), requester=requester, port=port, purpose=purpose,
            status=AccessRequestStatus.PENDING, created_at=convert.now(), columns=tuple(columns), until=until,
            product=product, unmasked=tuple(unmasked),
        )  # fmt: skip

        def work(conn: Connection) -> AccessRequest:
            conn.execute(
                sa.insert(schema.access_requests),
                {"id": request.id, "requester": requester, "port": port, "purpose": purpose,
                 "columns": list(columns), "until": until, "status": request.status.value,
                 "created_at": request.created_at, "note": "", "product": product,
                 "unmasked": list(unmasked) or None},
            )  # fmt: skip
            detail = {"request": request.id, "purpose": purpose, "columns": list(columns),
                      "until": until.isoformat() if until else None}  # fmt: skip
            if product:
                detail.update(product=product, unmasked=list(unmasked))
            _audit(conn, requester, "agreement.request" if product else "access.request", port, detail)
            return request

        return self._db.write(work)

    def approve_access_request(
        self, request_id: str, decided_by: str, *, row_filter: str | None = None, note: str = ""
    ) -> Grant:
        """Approve a pending request and create its grant (expiring at the request's ``until``)."""

        def work(conn: Connection) -> Grant:
            request = _decide(conn, request_id, AccessRequestStatus.APPROVED, decided_by, note, row_filter)
            at = request.decided_at or convert.now()
            row = {
                "id": secrets.token_hex(6), "request_id": request.id, "grantee": request.grantee,
                "port": request.port, "columns": list(request.columns), "row_filter": row_filter,
                "granted_by": decided_by, "granted_at": at, "expires_at": request.until,
                "revoked_at": None, "unmasked": list(request.unmasked) or None,
            }  # fmt: skip
            conn.execute(sa.insert(schema.grants), row)
            detail = {"request": request.id, "grantee": request.grantee, "row_filter": row_filter,
                      "note": note, "grant": row["id"]}  # fmt: skip
            _audit(conn, decided_by, _action(request, "approve"), request.port, detail)
            return convert.grant(row)

        return self._db.write(work)

    def deny_access_request(self, request_id: str, decided_by: str, *, note: str = "") -> AccessRequest:
        def work(conn: Connection) -> AccessRequest:
            request = _decide(conn, request_id, AccessRequestStatus.DENIED, decided_by, note, None)
            _audit(conn, decided_by, _action(request, "deny"), request.port, {"request": request.id, "note": note})
            return request

        return self._db.write(work)

    def revoke_access(self, request_id: str, revoked_by: str, *, note: str = "") -> AccessRequest:
        """Revoke an approved request's grant (or withdraw a pending request)."""

        def work(conn: Connection) -> AccessRequest:
            request = _decide(conn, request_id, AccessRequestStatus.REVOKED, revoked_by, note, None)
            g = schema.grants
            conn.execute(
                sa.update(g).where(g.c.request_id == request_id, g.c.revoked_at.is_(None))
                .values(revoked_at=request.decided_at)
            )  # fmt: skip
            detail = {"request": request.id, "note": note}
            if request.product:  # shown on the consuming product's page too
                detail["product"] = request.product
            _audit(conn, revoked_by, _action(request, "revoke"), request.port, detail)
            return request

        return self._db.write(work)

    def create_token(
        self, username: str, *, name: str = "", expires_at: datetime | None = None, actor: str | None = None
    ) -> tuple[str, ApiToken]:
        """A new token for ``username``: the plaintext (shown once, never stored) and its metadata."""
        token = new_token()
        info = ApiToken(token.id, username, name, convert.now(), expires_at)
        t = schema.api_tokens

        def work(conn: Connection) -> None:
            # the user's SCRAM salt is shared by all their tokens (see meshplane.catalog.tokens)
            known = conn.execute(
                sa.select(t.c.scram_verifier).where(t.c.username == username, t.c.scram_verifier.is_not(None))
                .order_by(t.c.created_at).limit(1)
            ).scalar()  # fmt: skip
            salt = scram_salt(known) if known else secrets.token_bytes(16)
            conn.execute(
                sa.insert(t),
                {"id": token.id, "username": username, "name": name, "salt": token.salt,
                 "token_hash": token.token_hash, "created_at": info.created_at, "expires_at": expires_at,
                 "scram_verifier": scram_verifier(token.plaintext, salt)},
            )  # fmt: skip
            _audit(conn, actor or username, "token.create", username, {"token": token.id, "name": name})

        self._db.write(work)
        return token.plaintext, info

    def revoke_token(self, token_id: str, *, actor: str) -> None:
        t = schema.api_tokens

        def work(conn: Connection) -> None:
            row = conn.execute(sa.select(t.c.username).where(t.c.id == token_id)).one_or_none()
            if row is None:
                raise CatalogError(f"no API token with id {token_id!r}")
            conn.execute(
                sa.update(t).where(t.c.id == token_id, t.c.revoked_at.is_(None)).values(revoked_at=convert.now())
            )
            _audit(conn, actor, "token.revoke", row.username, {"token": token_id})

        self._db.write(work)

    def log_query(self, entry: QueryLogEntry) -> int:
        """Record one gateway query (any decision); returns its id."""
        sql_hash = entry.sql_hash or hashlib.sha256(entry.sql.encode()).hexdigest()
        row = {
            "at": entry.at or convert.now(), "username": entry.username, "sql_hash": sql_hash,
            "sql_text": entry.sql, "rows": entry.rows, "duration_ms": entry.duration_ms,
            "decision": entry.decision.value, "error": entry.error,
        }  # fmt: skip

        def work(conn: Connection) -> int:
            query_id = int(conn.execute(sa.insert(schema.query_log).returning(schema.query_log.c.id), row).scalar_one())
            ports = [{"query_id": query_id, "port": p} for p in sorted(set(entry.ports))]
            _insert_many(conn, schema.query_log_ports, ports)
            return query_id

        return self._db.write(work)

    def log_queries(self, entries: Sequence[tuple[QueryLogEntry, Mapping[str, Any]]]) -> list[int]:
        """Record several gateway queries, each with its ``query`` audit event, in one transaction.

        Each pair is a query log entry and the detail of its audit event (actor: the user; subject: the
        ports read, or ``-``); the detail gets the new query id under ``query``. Returns the query ids.
        """

        def work(conn: Connection) -> list[int]:
            ids: list[int] = []
            for entry, detail in entries:
                sql_hash = entry.sql_hash or hashlib.sha256(entry.sql.encode()).hexdigest()
                row = {
                    "at": entry.at or convert.now(), "username": entry.username, "sql_hash": sql_hash,
                    "sql_text": entry.sql, "rows": entry.rows, "duration_ms": entry.duration_ms,
                    "decision": entry.decision.value, "error": entry.error,
                }  # fmt: skip
                q = schema.query_log
                query_id = int(conn.execute(sa.insert(q).returning(q.c.id), row).scalar_one())
                ports = [{"query_id": query_id, "port": p} for p in sorted(set(entry.ports))]
                _insert_many(conn, schema.query_log_ports, ports)
                subject = ",".join(dict.fromkeys(entry.ports)) or "-"
                _audit(conn, entry.username, "query", subject, {"query": query_id, **detail})
                ids.append(query_id)
            return ids

        return self._db.write(work) if entries else []


def _action(request: AccessRequest, verb: str) -> str:
    return f"agreement.{verb}" if request.product else f"access.{verb}"


def _audit(conn: Connection, actor: str, action: str, subject: str, detail: Mapping[str, Any]) -> AuditEvent:
    a = schema.audit_log
    at = convert.now()
    event_id = conn.execute(
        sa.insert(a).returning(a.c.id),
        {"at": at, "actor": actor, "action": action, "subject": subject, "detail": dict(detail)},
    ).scalar_one()
    return AuditEvent(actor, action, subject, dict(detail), at, int(event_id))


_ALLOWED_FROM = {
    AccessRequestStatus.APPROVED: {AccessRequestStatus.PENDING},
    AccessRequestStatus.DENIED: {AccessRequestStatus.PENDING},
    AccessRequestStatus.REVOKED: {AccessRequestStatus.PENDING, AccessRequestStatus.APPROVED},
}


def _decide(
    conn: Connection,
    request_id: str,
    status: AccessRequestStatus,
    decided_by: str,
    note: str,
    row_filter: str | None,
) -> AccessRequest:
    r = schema.access_requests
    row = conn.execute(sa.select(r).where(r.c.id == request_id).with_for_update()).mappings().one_or_none()
    if row is None:
        raise CatalogError(f"no access request {request_id!r}")
    current = AccessRequestStatus(row["status"])
    if current not in _ALLOWED_FROM[status]:
        raise CatalogError(f"access request {request_id!r} is {current.value}; it cannot become {status.value}")
    values: dict[str, Any] = {
        "status": status.value,
        "decided_by": decided_by,
        "decided_at": convert.now(),
        "note": note,
    }
    if status is AccessRequestStatus.APPROVED:
        values["row_filter"] = row_filter
    conn.execute(sa.update(r).where(r.c.id == request_id).values(**values))
    return convert.access_request(conn.execute(sa.select(r).where(r.c.id == request_id)).mappings().one())
