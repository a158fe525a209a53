"""Runs, interrupted runs, check results, policy results and SLO evaluations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from meshplane.catalog import CatalogStore, CheckResult, PolicyResult, RunRecord, RunStatus, SloEvaluation
from meshplane.errors import CatalogError


def test_run_lifecycle(store: CatalogStore) -> None:
    w, r = store.writer, store.reader
    run = w.start_run("podcasts.listening_events", port="podcasts.listening_events.listening_events",
                      engine="duckdb", trigger="manual")  # fmt: skip
    assert run.status is RunStatus.RUNNING and run.pid == os.getpid() and run.host == socket.gethostname()
    assert r.run(run.run_id) == run
    done = w.finish_run(run.run_id, RunStatus.SUCCESS, rows_written=1200, snapshot_id="8812")
    assert (done.status, done.rows_written, done.snapshot_id) == (RunStatus.SUCCESS, 1200, "8812")
    assert done.ended_at is not None and done.ended_at >= done.started_at
    assert done.started_at.tzinfo is not None
    with pytest.raises(CatalogError, match="already ended as success"):
        w.finish_run(run.run_id, RunStatus.FAILED)
    with pytest.raises(CatalogError, match="not in the catalog"):
        w.finish_run("nope", RunStatus.FAILED)
    with pytest.raises(ValueError):
        w.finish_run(run.run_id, RunStatus.RUNNING)
    failed = w.start_run("royalties.payouts", engine="spark", trigger="schedule")
    w.finish_run(failed.run_id, RunStatus.FAILED, error="contract violated: nullValues on holder_id")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    skipped = RunRecord("skip-1", "royalties.payouts", RunStatus.SKIPPED, t0, ended_at=t0, trigger="schedule")
    w.record_run(skipped)
    assert r.run("skip-1") == skipped
    assert [x.run_id for x in r.runs()][-1] == "skip-1"  # newest first
    assert [x.run_id for x in r.runs("royalties.payouts", status=RunStatus.FAILED)] == [failed.run_id]
    assert [x.run_id for x in r.runs(port="podcasts.listening_events.listening_events")] == [run.run_id]
    assert len(r.runs(since=t0 + timedelta(days=1))) == 2
    assert len(r.runs(limit=1)) == 1
    assert r.run("missing") is None


def test_mark_interrupted_runs(store: CatalogStore) -> None:
    w, r = store.writer, store.reader
    mine = w.start_run("a.live")
    dead_proc = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_proc.wait()  # reaped, so its pid is gone
    dead = RunRecord("dead", "a.dead", RunStatus.RUNNING, datetime.now(UTC), pid=dead_proc.pid,
                     host=socket.gethostname())  # fmt: skip
    elsewhere_old = RunRecord("old", "a.old", RunStatus.RUNNING, datetime.now(UTC) - timedelta(hours=3),
                              pid=1, host="another-host")  # fmt: skip
    elsewhere_new = RunRecord("new", "a.new", RunStatus.RUNNING, datetime.now(UTC), pid=1, host="another-host")
    for run in (dead, elsewhere_old, elsewhere_new):
        w.record_run(run)
    assert sorted(w.mark_interrupted_runs()) == ["dead"]
    assert sorted(w.mark_interrupted_runs(older_than=timedelta(hours=1))) == ["old"]
    assert w.mark_interrupted_runs(older_than=timedelta(hours=1)) == []
    interrupted = r.run("dead")
    assert interrupted is not None and interrupted.status is RunStatus.INTERRUPTED and interrupted.ended_at
    assert r.run(mine.run_id).status is RunStatus.RUNNING  # type: ignore[union-attr]
    assert r.run("new").status is RunStatus.RUNNING  # type: ignore[union-attr]


def test_check_results(store: CatalogStore) -> None:
    run = store.writer.start_run("podcasts.listening_events")
    port = "podcasts.listening_events.listening_events"
    results = [
        CheckResult("row_count", port, True, metric="rowCount", observed=1200, threshold="mustBeGreaterThan 0"),
        CheckResult(
            "listener_id.nulls",
            port,
            False,
            metric="nullValues",
            column="listener_id",
            observed=3,
            threshold="mustBe 0",
            severity="error",
            sample=({"event_id": "e1", "listener_id": None},),
        ),
    ]
    store.writer.record_check_results(run.run_id, results)
    store.writer.record_check_results(run.run_id, [])
    got = store.reader.check_results(run_id=run.run_id)
    assert [c.rule_id for c in got] == ["row_count", "listener_id.nulls"]
    assert got[1].sample == ({"event_id": "e1", "listener_id": None},)
    assert got[1] == CheckResult(**{**_fields(results[1]), "run_id": run.run_id, "observed": 3.0})
    assert len(store.reader.check_results(port=port)) == 2
    assert store.reader.check_results(port="other") == []


def _fields(c: CheckResult) -> dict[str, object]:
    return {f: getattr(c, f) for f in c.__slots__}  # type: ignore[attr-defined]


def test_policy_results_and_slos(store: CatalogStore) -> None:
    w, r = store.writer, store.reader
    w.record_policy_results("eval-1", [
        PolicyResult("pii-needs-retention", "podcasts.listening_events.listening_events", "fail",
                     "PII port without retention", "domains/podcasts/listening_events/le.odcs.yaml:3:1"),
        PolicyResult("owner-declared", "podcasts.listening_events", "pass"),
    ])  # fmt: skip
    w.record_policy_results("eval-2", [PolicyResult("owner-declared", "podcasts.listening_events", "waived")],
                            audit=("meshplane", "governance.evaluated", "media", {"evaluation": "eval-2"}))  # fmt: skip
    assert r.latest_policy_evaluation() == "eval-2"
    [summary] = r.audit_log(action="governance.evaluated")  # written with its results
    assert (summary.subject, summary.detail) == ("media", {"evaluation": "eval-2"})
    first = r.policy_results(evaluation_id="eval-1")
    assert {p.outcome for p in first} == {"fail", "pass"}
    assert all(p.evaluation_id == "eval-1" and p.evaluated_at is not None for p in first)
    assert next(p.outcome for p in r.policy_results(subject="podcasts.listening_events")) == "waived"
    port = "podcasts.listening_events.listening_events"
    w.record_slo_evaluations([
        SloEvaluation(port, "latency", "met", observed=0.5, target=1, evidence={"last_success": "2024-01-01"}),
        SloEvaluation(port, "frequency", "breached", observed=30, target=24),
    ])  # fmt: skip
    slos = r.slo_evaluations(port=port)
    assert {(s.slo, s.status) for s in slos} == {("latency", "met"), ("frequency", "breached")}
    assert next(s for s in slos if s.slo == "latency").evidence == {"last_success": "2024-01-01"}
    assert r.slo_evaluations(port="x") == []
