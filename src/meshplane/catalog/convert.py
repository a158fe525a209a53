"""Rows to records (shared by the reader, and the writer that returns what it wrote)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from meshplane.catalog.records import (
    AccessRequest,
    AccessRequestStatus,
    ApiToken,
    AuditEvent,
    CheckResult,
    Grant,
    PolicyResult,
    ProfileRecord,
    QueryDecision,
    QueryLogEntry,
    RunRecord,
    RunStatus,
    SloEvaluation,
)

Row = Mapping[Any, Any]  # RowMapping keys are str | Column

__all__ = [
    "access_request",
    "api_token",
    "audit_event",
    "check_result",
    "grant",
    "json_value",
    "now",
    "policy_result",
    "profile",
    "query_entry",
    "run",
    "slo_evaluation",
]


def json_value(value: Any) -> Any:
    """A value as the catalog's JSON columns can hold it: engines return dates, times, Decimals, UUIDs and
    bytes in sample rows; numbers stay numbers, dates and times become ISO text, the rest its text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    return str(value)


def now() -> datetime:
    return datetime.now(UTC)


def run(r: Row) -> RunRecord:
    return RunRecord(
        run_id=r["run_id"], product=r["product"], port=r["port"], status=RunStatus(r["status"]),
        started_at=r["started_at"], ended_at=r["ended_at"], rows_written=r["rows_written"],
        snapshot_id=r["snapshot_id"], error=r["error"], engine=r["engine"], trigger=r["trigger"],
        pid=r["pid"], host=r["host"],
    )  # fmt: skip


def check_result(r: Row) -> CheckResult:
    return CheckResult(
        rule_id=r["rule_id"], port=r["port"], passed=bool(r["passed"]), metric=r["metric"],
        column=r["column_name"], observed=r["observed"], threshold=r["threshold"],
        severity=r["severity"], sample=tuple(r["sample"]), run_id=r["run_id"],
    )  # fmt: skip


def profile(r: Row) -> ProfileRecord:
    return ProfileRecord(
        port=r["port"], run_id=r["run_id"], profiled_at=r["profiled_at"], row_count=int(r["row_count"]),
        columns=tuple(r["columns"] or ()),
    )  # fmt: skip


def policy_result(r: Row) -> PolicyResult:
    return PolicyResult(
        policy_id=r["policy_id"], subject=r["subject"], outcome=r["outcome"], message=r["message"],
        location=r["location"], severity=r["severity"], evaluation_id=r["evaluation_id"],
        evaluated_at=r["evaluated_at"],
    )  # fmt: skip


def slo_evaluation(r: Row) -> SloEvaluation:
    return SloEvaluation(
        port=r["port"], slo=r["slo"], status=r["status"], observed=r["observed"], target=r["target"],
        evidence=dict(r["evidence"]), evaluated_at=r["evaluated_at"],
    )  # fmt: skip


def access_request(r: Row) -> AccessRequest:
    return AccessRequest(
        id=r["id"], requester=r["requester"], port=r["port"], purpose=r["purpose"],
        status=AccessRequestStatus(r["status"]), created_at=r["created_at"], columns=tuple(r["columns"]),
        until=r["until"], decided_by=r["decided_by"], decided_at=r["decided_at"],
        row_filter=r["row_filter"], note=r["note"], product=r["product"], unmasked=tuple(r["unmasked"] or ()),
    )  # fmt: skip


def grant(r: Row) -> Grant:
    return Grant(
        id=r["id"], request_id=r["request_id"], grantee=r["grantee"], port=r["port"],
        granted_by=r["granted_by"], granted_at=r["granted_at"], columns=tuple(r["columns"]),
        row_filter=r["row_filter"], expires_at=r["expires_at"], revoked_at=r["revoked_at"],
        unmasked=tuple(r["unmasked"] or ()),
    )  # fmt: skip


def audit_event(r: Row) -> AuditEvent:
    detail: dict[str, Any] = dict(r["detail"])
    return AuditEvent(actor=r["actor"], action=r["action"], subject=r["subject"], detail=detail, at=r["at"], id=r["id"])


def api_token(r: Row) -> ApiToken:
    return ApiToken(
        id=r["id"], username=r["username"], name=r["name"], created_at=r["created_at"],
        expires_at=r["expires_at"], revoked_at=r["revoked_at"],
    )  # fmt: skip


def query_entry(r: Row, ports: tuple[str, ...]) -> QueryLogEntry:
    return QueryLogEntry(
        username=r["username"], sql=r["sql_text"], decision=QueryDecision(r["decision"]), ports=ports,
        rows=r["rows"], duration_ms=r["duration_ms"], error=r["error"], sql_hash=r["sql_hash"],
        at=r["at"], id=r["id"],
    )  # fmt: skip
