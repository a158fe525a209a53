"""The pure parts: signatures, the backoff schedule, routing by audience and subscription, redacted errors."""

from __future__ import annotations

import shutil
from pathlib import Path

from meshplane.builds import ProductOutcome, Status
from meshplane.notifications import Notification, backoff_delay, route, sign, verify
from meshplane.spec.models import NotificationsConfig
from meshplane.types import Address, EventKind
from meshplane.workspace import Mesh
from meshplane.workspace.notices import build_notices

ROOT = Path(__file__).resolve().parents[2]


def test_signature_binds_body_secret_and_time() -> None:
    body, ts = b'{"kind": "build_failed"}', "1765000000"
    signature = sign(b"k", ts, body)
    assert signature.startswith("sha256=") and verify(b"k", ts, body, signature, now=1765000010)
    assert not verify(b"k", ts, body + b" ", signature, now=1765000010)
    assert not verify(b"other", ts, body, signature, now=1765000010)
    assert not verify(b"k", ts, body, signature, now=1765000000 + 3600)  # replayed an hour later


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_delay(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_delay(40, 30) == 6 * 3600


def test_routing_follows_audience_teams_and_event_filters() -> None:
    config = NotificationsConfig.model_validate({
        "channels": {"hook": {"type": "webhook", "url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"},
                     "fixed": {"type": "webhook", "url": "http://127.0.0.1:9/x", "secret_env": "HOOK_SECRET"}},
        "subscriptions": [
            {"subscriber": "user:raj", "events": ["slo_breached"], "channel": "hook"},
            {"subscriber": "team:ops", "channel": "fixed"},
            {"subscriber": "product:a.b", "events": ["build_failed"], "channel": "hook"},
        ],
    })  # fmt: skip
    note = Notification(EventKind.SLO_BREACHED, "a.b.c", "t", frozenset({"team:royalties", "product:a.b"}))
    teams = {"royalties": frozenset({"raj"}), "ops": frozenset({"olga"})}
    on = {"HOOK_URL": "http://127.0.0.1:9/y"}
    assert [(t.channel, t.subscriber) for t in route(note, config, teams, on)] == [("hook", "user:raj")]
    assert route(note, config, teams, {}) == []  # HOOK_URL unset: that webhook is off
    failed = Notification(EventKind.BUILD_FAILED, "a.b", "t", frozenset({"product:a.b", "team:ops"}))
    assert {(t.channel, t.subscriber) for t in route(failed, config, teams, on)} == {
        ("hook", "product:a.b"), ("fixed", "team:ops")}  # fmt: skip


def test_build_failure_notices_redact_quoted_values(tmp_path: Path) -> None:
    root = tmp_path / "media"
    shutil.copytree(ROOT / "examples" / "media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    with Mesh.open(root) as mesh:
        outcome = ProductOutcome(Address.parse("tv.schedule"), Status.FAILED, 0.1, "r1",
                                 error="schedule.sql: the transform failed: ConversionException: Could not convert "
                                       "string 'alice@example.com' to INT32")  # fmt: skip
        [notice] = build_notices(mesh.graph, outcome)
    assert notice.kind is EventKind.BUILD_FAILED and "alice" not in str(notice.details)
    assert {"product:tv.schedule", "team:tv-team"} <= notice.audience


def test_check_reports_subscriptions_to_unknown_channels_and_subscribers(tmp_path: Path) -> None:
    from meshplane.workspace import check_mesh

    root = tmp_path / "media"
    shutil.copytree(ROOT / "examples" / "media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    config = root / "mesh.yaml"
    config.write_text(config.read_text().replace("channel: governance-hook}", "channel: governance-hoook}").replace(
        "subscriber: team:royalties-team", "subscriber: team:royalty-team").replace(
        "  channels:\n", "  channels:\n    mail: {type: email}\n"))  # fmt: skip
    problems = [p for p in check_mesh(root).problems if p.code == "notifications"]
    messages = sorted(p.message for p in problems)
    assert messages == [
        "e-mail channel 'mail' needs an SMTP server",
        "subscriber 'team:royalty-team': no such team in this mesh",
        "subscription to unknown channel 'governance-hoook'",
    ]
    assert all(p.location.path.name == "mesh.yaml" and p.location.line > 1 and p.hint for p in problems)


def test_agreement_requests_are_told_as_agreements(tmp_path: Path) -> None:
    """A product agreement (an access request carrying the consuming ``product``) is told to both products."""
    from types import SimpleNamespace

    root = tmp_path / "media"
    shutil.copytree(ROOT / "examples" / "media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    agreement = SimpleNamespace(id="ag1", product="royalties.creator_payouts", port="films.streams.title_monthly",
                                requester="julia", decided_by="fatima", note="contract ended", status=None)  # fmt: skip
    with Mesh.open(root) as mesh:
        mesh.access._tell(EventKind.ACCESS_REVOKED, agreement)  # as revoke() does
        mesh.access._tell(EventKind.ACCESS_REQUESTED, agreement)  # as a request does
        told = {r.kind: r for r in mesh.notifications.store.notifications()}
    assert set(told) == {"agreement_revoked", "agreement_requested"}
    revoked = told["agreement_revoked"]
    assert {"product:royalties.creator_payouts", "product:films.streams", "team:films-team"} <= set(revoked.audience)
    assert revoked.payload["details"]["actor"] == "fatima"
