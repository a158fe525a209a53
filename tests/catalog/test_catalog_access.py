"""Access requests and grants, the append-only audit log, API tokens, the query log and usage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from meshplane.catalog import AccessRequestStatus, CatalogStore, QueryDecision, QueryLogEntry
from meshplane.errors import CatalogError

PORT = "podcasts.listening_events.listening_events"


def test_request_approve_revoke_with_audit_trail(store: CatalogStore) -> None:
    w, r = store.writer, store.reader
    until = datetime.now(UTC) + timedelta(days=30)
    req = w.create_access_request("rita", PORT, "royalty computation", columns=["event_id", "seconds"], until=until)
    assert req.status is AccessRequestStatus.PENDING and req.columns == ("event_id", "seconds")
    assert r.access_request(req.id) == req
    assert [x.id for x in r.access_requests(status=AccessRequestStatus.PENDING)] == [req.id]
    assert [x.id for x in r.access_requests(ports=[PORT, "other.p.q"])] == [req.id]
    assert r.access_requests(requester="bob") == []
    assert r.grants(grantee="rita") == []

    grant = w.approve_access_request(req.id, "alice", row_filter="country = 'FR'", note="ok for FR")
    assert (grant.grantee, grant.port, grant.row_filter, grant.columns) == (
        "rita", PORT, "country = 'FR'", ("event_id", "seconds"))  # fmt: skip
    assert grant.expires_at == until.replace(microsecond=until.microsecond)
    approved = r.access_request(req.id)
    assert approved is not None and approved.status is AccessRequestStatus.APPROVED
    assert (approved.decided_by, approved.row_filter, approved.note) == ("alice", "country = 'FR'", "ok for FR")
    assert r.grants(grantee="rita") == [grant]
    assert r.grants(port=PORT, active_at=until + timedelta(seconds=1)) == []  # expires on its own
    assert len(r.grants(port=PORT, active_at=until + timedelta(seconds=1), include_inactive=True)) == 1

    with pytest.raises(CatalogError, match="is approved; it cannot become denied"):
        w.deny_access_request(req.id, "alice")
    revoked = w.revoke_access(req.id, "alice", note="project over")
    assert revoked.status is AccessRequestStatus.REVOKED
    assert r.grants(grantee="rita") == []
    [old] = r.grants(grantee="rita", include_inactive=True)
    assert old.revoked_at is not None and not old.active_at(datetime.now(UTC))

    denied = w.deny_access_request(w.create_access_request("bob", PORT, "curiosity").id, "alice", note="no")
    assert denied.status is AccessRequestStatus.DENIED
    with pytest.raises(CatalogError, match="no access request"):
        w.approve_access_request("missing", "alice")

    trail = r.audit_log(subject=PORT)
    assert [e.action for e in trail] == [
        "access.deny", "access.request", "access.revoke", "access.approve", "access.request"]  # fmt: skip
    assert trail[-1].actor == "rita" and trail[-1].detail["purpose"] == "royalty computation"
    assert trail[3].detail["row_filter"] == "country = 'FR'"
    assert [e.action for e in r.audit_log(actor="alice", limit=2)] == ["access.deny", "access.revoke"]
    assert r.audit_log(action="access.approve")[0].detail["grant"] == grant.id
    assert r.audit_log(since=datetime.now(UTC) + timedelta(hours=1)) == []


def test_audit_log_is_append_only(store: CatalogStore, catalog_url: str) -> None:
    event = store.writer.append_audit("gina", "policy.waive", "podcasts.listening_events", {"policy": "p1"})
    assert event.id is not None and event.at is not None
    assert store.reader.audit_log() == [event]
    assert not any(hasattr(store.writer, n) for n in ("update_audit", "delete_audit", "clear_audit_log"))
    engine = sa.create_engine(catalog_url)
    try:
        for statement in (
            "UPDATE mp_audit_log SET actor = 'mallory'",
            "DELETE FROM mp_audit_log",
        ) + (("TRUNCATE mp_audit_log",) if store.dialect == "postgresql" else ()):
            with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert store.reader.audit_log() == [event]


def test_tokens_are_stored_hashed(store: CatalogStore, catalog_url: str) -> None:
    w, r = store.writer, store.reader
    plaintext, info = w.create_token("rita", name="laptop")
    assert plaintext.startswith("mpt_") and info.username == "rita"
    assert r.verify_token(plaintext) == "rita"
    other, _ = w.create_token("rita")
    assert other != plaintext and r.verify_token(other) == "rita"
    for forged in ("", "mpt_", plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B"), "Bearer " + plaintext,
                   f"mpt_{info.id}_", "mpt_0000000000000000_secret"):  # fmt: skip
        assert r.verify_token(forged) is None
    engine = sa.create_engine(catalog_url)
    try:
        with engine.connect() as conn:
            dump = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM mp_api_tokens")) for v in row)
            audit = " ".join(str(v) for row in conn.execute(sa.text("SELECT * FROM mp_audit_log")) for v in row)
    finally:
        engine.dispose()
    secret = plaintext.split("_", 2)[2]
    assert secret not in dump and secret not in audit and info.id in dump
    assert [t.name for t in r.tokens(username="rita")] == ["laptop", ""]
    w.revoke_token(info.id, actor="rita")
    assert r.verify_token(plaintext) is None and r.verify_token(other) == "rita"
    with pytest.raises(CatalogError):
        w.revoke_token("nope", actor="rita")
    short, _ = w.create_token("bob", expires_at=datetime.now(UTC) + timedelta(minutes=5))
    assert r.verify_token(short) == "bob"
    assert r.verify_token(short, at=datetime.now(UTC) + timedelta(minutes=6)) is None
    assert [e.action for e in r.audit_log(subject="rita")] == ["token.revoke", "token.create", "token.create"]


def test_query_log_and_usage(store: CatalogStore) -> None:
    w, r = store.writer, store.reader
    sql = "SELECT * FROM podcasts.listening_events"
    q1 = w.log_query(QueryLogEntry("rita", sql, QueryDecision.ALLOWED, ports=(PORT,), rows=10, duration_ms=12.5))
    w.log_query(QueryLogEntry("rita", sql, QueryDecision.ALLOWED, ports=(PORT, "royalties.payouts.monthly"), rows=5))
    w.log_query(QueryLogEntry("bob", sql, QueryDecision.ALLOWED, ports=(PORT,), rows=1))
    w.log_query(QueryLogEntry("eve", sql, QueryDecision.DENIED, ports=(PORT,), error="access denied"))
    log = r.query_log()
    assert [e.username for e in log] == ["eve", "bob", "rita", "rita"]
    assert log[-1].id == q1 and log[-1].duration_ms == 12.5 and len(log[-1].sql_hash) == 64
    assert log[1].ports == (PORT,) and log[2].ports == (PORT, "royalties.payouts.monthly")
    assert [e.decision for e in r.query_log(username="eve")] == [QueryDecision.DENIED]
    assert len(r.query_log(port="royalties.payouts.monthly")) == 1
    assert r.query_log(since=datetime.now(UTC) + timedelta(hours=1)) == []
    usage = r.port_usage()
    assert [(u.port, u.queries, u.users, u.rows) for u in usage] == [
        (PORT, 3, 2, 16), ("royalties.payouts.monthly", 1, 1, 5)]  # fmt: skip
    assert usage[0].last_queried_at is not None and usage[0].last_queried_at.tzinfo is not None
    assert [u.port for u in r.port_usage(ports=["royalties.payouts.monthly"])] == ["royalties.payouts.monthly"]
    assert r.port_usage(since=datetime.now(UTC) + timedelta(hours=1)) == []
