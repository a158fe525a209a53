"""The notification outbox and the metrics aggregates on each catalog backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meshplane.catalog import CatalogStore, CheckResult, QueryDecision, QueryLogEntry, RunStatus, SloEvaluation
from meshplane.catalog.notifications import AttemptRecord, DeliveryStatus, PlannedDelivery

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_outbox_dedupes_claims_once_and_logs_attempts(store: CatalogStore) -> None:
    outbox = store.notifications
    planned = [PlannedDelivery("hook", "webhook", "team:a"), PlannedDelivery("mail", "email", "user:b")]
    first = outbox.add(kind="slo_breached", subject="d.p.x", title="t", payload={"details": {"n": 1}},
                       audience=["team:a", "user:b"], at=T0, deliveries=planned, dedupe_key="slo:d.p.x")  # fmt: skip
    assert first is not None
    assert outbox.add(kind="slo_breached", subject="d.p.x", title="t", payload={}, audience=["team:a"], at=T0,
                      deliveries=planned, dedupe_key="slo:d.p.x") is None  # told once  # fmt: skip
    due = outbox.due(T0)
    assert len(due) == 2 and due[0].notification.payload == {"details": {"n": 1}}
    delivery = due[0].delivery
    assert outbox.claim(delivery, T0 + timedelta(minutes=1))
    assert not outbox.claim(delivery, T0 + timedelta(minutes=1))  # a second deliverer loses the race
    assert [d.delivery.id for d in outbox.due(T0)] == [due[1].delivery.id]
    outbox.record_attempt(AttemptRecord(delivery.id, 1, T0, False, 0.1, 500, "HTTP 500"),
                          status=DeliveryStatus.PENDING, next_attempt_at=T0 + timedelta(seconds=30))  # fmt: skip
    outbox.record_attempt(AttemptRecord(delivery.id, 2, T0 + timedelta(seconds=30), True, 0.1, 200),
                          status=DeliveryStatus.DELIVERED, next_attempt_at=None)  # fmt: skip
    assert [(a.attempt, a.ok, a.status_code) for a in outbox.attempts(delivery.id)] == [(1, False, 500), (2, True, 200)]
    assert outbox.backlog() == {"delivered": 1, "pending": 1}
    assert [n.id for n in outbox.notifications(audience=["user:b"])] == [first.id]
    assert outbox.notifications(audience=["user:nobody"]) == []


def test_metrics_snapshot_aggregates_runs_checks_queries_slos_grants(store: CatalogStore) -> None:
    writer = store.writer
    for n, (status, seconds) in enumerate([(RunStatus.SUCCESS, 2.0), (RunStatus.SUCCESS, 40.0),
                                           (RunStatus.FAILED, 0.5)]):  # fmt: skip
        writer.start_run("d.p", run_id=f"r{n}", started_at=T0)
        checks = [CheckResult(rule_id="d.p.x.rows", port="d.p.x", passed=status is RunStatus.SUCCESS,
                              metric="rowCount", observed=1.0, threshold="> 0")]  # fmt: skip
        writer.finish_run(f"r{n}", status, ended_at=T0 + timedelta(seconds=seconds), check_results=checks)
    for decision, ms in [(QueryDecision.ALLOWED, 40.0), (QueryDecision.ALLOWED, 700.0), (QueryDecision.DENIED, 2.0)]:
        writer.log_query(QueryLogEntry("u", "SELECT 1", decision, ("d.p.x",), duration_ms=ms, at=T0))
    writer.record_slo_evaluations(
        [
            SloEvaluation("d.p.x", "latency", "met", evaluated_at=T0),
            SloEvaluation("d.p.x", "latency", "breached", evaluated_at=T0 + timedelta(1)),
        ]
    )
    request = writer.create_access_request("u", "d.p.x", "why")
    writer.approve_access_request(request.id, "owner")
    store.metrics.record_scheduler_round(T0, 2, 12.5)
    snap = store.metrics.snapshot(T0 + timedelta(days=2))
    assert snap.builds == {("d.p", "success"): 2, ("d.p", "failed"): 1}
    success = snap.build_seconds["success"]
    assert success.count == 2 and abs(success.total - 42.0) < 0.01
    assert dict(success.buckets)[5.0] == 1 and dict(success.buckets)[60.0] == 2
    assert snap.checks == {("passed", "error"): 2, ("failed", "error"): 1}
    assert snap.queries == {"allowed": 2, "denied": 1}
    assert snap.query_seconds.count == 3 and dict(snap.query_seconds.buckets)[0.05] == 2
    assert snap.slo_states == {("d.p.x", "latency"): "breached"}
    assert snap.active_grants == 1
    assert snap.scheduler["due"] == 2 and snap.scheduler["lag_seconds"] == 12.5
