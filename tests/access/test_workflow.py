"""Access requests, decisions, grants, tokens and principals on the media example's specs (no data needed)."""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshplane.access.principals import Directory, acting_user, consumer_key, load_secret
from meshplane.errors import AccessDenied, MeshError, QueryRejected, UsageError
from meshplane.workspace import Mesh

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"
EVENTS = "podcasts.listening_events.listening_events"
STREAMS = "films.streams.streams"
PAYOUTS = "royalties.creator_payouts.monthly_payouts"


def copy_media(target: Path, *, auto_approve: str | None = None) -> Path:
    root = target / "media"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    if auto_approve:
        product = root / "domains" / "films" / "streams" / "product.odps.yaml"
        text = product.read_text()
        text = text.replace(
            "[{property: accessLevel, value: restricted}]",
            f"[{{property: accessLevel, value: restricted}}, {{property: autoApprove, value: [{auto_approve}]}}]",
            1,
        )
        product.write_text(text)
    return root


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    opened = Mesh.open(copy_media(tmp_path_factory.mktemp("workflow"), auto_approve="tv-team"))
    yield opened
    opened.access.close()
    opened.close()


def test_requests_need_a_purpose_a_restricted_port_and_known_columns(mesh: Mesh) -> None:
    access = mesh.access
    with pytest.raises(UsageError, match="--purpose"):
        access.request_access("raj", EVENTS, "   ")
    with pytest.raises(UsageError, match="public"):
        access.request_access("raj", "podcasts.catalog.shows", "reading")
    with pytest.raises(AccessDenied, match="private"):
        access.request_access("amelie", "royalties.rights_holders.royalty_rates", "curious")
    with pytest.raises(UsageError, match="owner team"):
        access.request_access("bilal", EVENTS, "my own data")
    with pytest.raises(UsageError, match="no column"):
        access.request_access("raj", EVENTS, "x", columns=["nope"])
    with pytest.raises(UsageError, match="past"):
        access.request_access("raj", EVENTS, "x", until="2001-01-01")
    with pytest.raises(UsageError, match="no product"):
        access.request_access("raj", "podcasts.nothing.here", "x")
    with pytest.raises(AccessDenied, match="not a user"):
        access.request_access("mallory", EVENTS, "x")


def test_one_pending_request_per_user_and_port(mesh: Mesh) -> None:
    first = mesh.access.request_access("chen", STREAMS, "compare film and podcast audiences")
    with pytest.raises(UsageError, match=first.id):
        mesh.access.request_access("chen", STREAMS, "again")
    mesh.access.revoke("chen", first.id)  # the requester withdraws it
    assert mesh.access.catalog.reader.access_request(first.id).status.value == "revoked"  # type: ignore[union-attr]


def test_who_may_decide(mesh: Mesh) -> None:
    access = mesh.access
    request = access.request_access("ivan", PAYOUTS, "ratings vs payouts", columns=["rights_holder_id"])
    for outsider in ("raj_unknown", "amelie_not", "bilal", "ivan"):
        with pytest.raises(MeshError):
            access.approve(outsider, request.id)
    assert access.approve("kofi", request.id).granted_by == "kofi"  # an owner team member (not the owner)
    with pytest.raises(UsageError, match="approved"):
        access.approve("julia", request.id)
    other = access.request_access("gustav", PAYOUTS, "film payouts")
    assert access.deny("gina", other.id, "use the aggregates").status.value == "denied"  # governance team
    with pytest.raises(UsageError, match="denied"):
        access.revoke("julia", other.id)
    with pytest.raises(AccessDenied):
        access.revoke("bilal", request.id)  # neither requester nor decider
    assert access.revoke("julia", request.id).status.value == "revoked"


def test_row_filters_are_guarded_against_the_port_columns(mesh: Mesh) -> None:
    access = mesh.access
    request = access.request_access("hannah", EVENTS, "tv cross-promotion")
    for bad in ("(SELECT 1) = 1", "nope = 1", "read_csv('x') IS NULL", "count(*) > 1", "le.country_code = 'GB'"):
        with pytest.raises(QueryRejected):
            access.approve("amelie", request.id, bad)
    grant = access.approve("amelie", request.id, "country_code IN ('GB', 'IE') AND seconds_listened >= 60")
    assert grant.row_filter == "country_code IN ('GB', 'IE') AND seconds_listened >= 60"
    assert access.catalog.reader.grants(grantee="hannah", port=EVENTS)[0].id == grant.id


def test_auto_approval_from_the_port_custom_property(mesh: Mesh) -> None:
    request = mesh.access.request_access("hannah", STREAMS, "tv and film audiences")
    assert request.status.value == "approved"
    assert request.decided_by == "policy:autoApprove"
    pending = mesh.access.request_access("raj", STREAMS, "film royalties")
    assert pending.status.value == "pending"  # royalties-team is not listed
    event = mesh.access.audit_log(action="access.approve", subject=STREAMS, limit=1)[0]
    assert event.actor == "policy:autoApprove"


def test_lists_show_own_requests_and_the_inbox(mesh: Mesh) -> None:
    access = mesh.access
    made = access.request_access("fatima", EVENTS, "film recommendations from podcast tastes")
    mine = {v.id: v for v in access.list_requests("fatima")}
    assert made.id in mine and not mine[made.id].may_decide
    inbox = {v.id: v for v in access.list_requests("bilal", pending=True)}
    assert inbox[made.id].may_decide and all(v.state == "pending" for v in inbox.values())
    assert made.id not in {v.id for v in access.list_requests("ivan")}
    assert made.id in {v.id for v in access.list_requests("gina")}  # governance sees everything
    access.deny("amelie", made.id, "use podcasts.listening_insights")


def test_every_step_is_audited(mesh: Mesh) -> None:
    access = mesh.access
    request = access.request_access("gustav", EVENTS, "audit trail check")
    access.approve("amelie", request.id, "device = 'car'", note="cars only")
    access.revoke("gina", request.id, "audit over")
    events = [e for e in access.audit_log(limit=50) if e.detail.get("request") == request.id]
    assert [(e.actor, e.action) for e in reversed(events)] == [
        ("gustav", "access.request"), ("amelie", "access.approve"), ("gina", "access.revoke"),
    ]  # fmt: skip
    assert events[1].detail["row_filter"] == "device = 'car'"


def test_tokens_by_the_user_or_the_platform_team(mesh: Mesh) -> None:
    access = mesh.access
    token, info = access.create_token("raj")
    assert access.user_for_token(token) == "raj" and info.username == "raj"
    assert access.create_token("raj", actor="paolo")[1].username == "raj"
    with pytest.raises(AccessDenied):
        access.create_token("raj", actor="amelie")
    with pytest.raises(AccessDenied):
        access.create_token("mallory", actor="paolo")
    assert access.user_for_token(token[:-2] + "xx") is None
    stored = access.catalog.reader.tokens(username="raj")
    assert all(token not in repr(t) for t in stored)


def test_principals_come_from_mesh_yaml(mesh: Mesh) -> None:
    directory = Directory.from_spec(mesh.spec)
    amelie = directory.principal("amelie")
    assert amelie.teams == {"podcasts-team", "governance-guild"} and amelie.is_governance
    assert directory.principal("paolo").is_platform_admin
    assert not directory.principal("raj").is_governance
    with pytest.raises(AccessDenied, match="not a user"):
        directory.principal("root")


def test_consumer_keys_are_per_user_and_the_secret_is_private(tmp_path: Path) -> None:
    secret = load_secret(tmp_path / ".meshplane")
    path = tmp_path / ".meshplane" / "access.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(tmp_path / ".meshplane") == secret  # created once, then reused
    raj, julia = consumer_key(secret, "raj"), consumer_key(secret, "julia")
    assert raj != julia and re.fullmatch(r"[0-9a-f]{64}", raj)
    assert consumer_key(load_secret(tmp_path / "other"), "raj") != raj


def test_acting_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MESHPLANE_USER", raising=False)
    assert acting_user(None) is None
    monkeypatch.setenv("MESHPLANE_USER", "raj")
    assert acting_user(None) == "raj" and acting_user("amelie") == "amelie"
    with pytest.raises(UsageError):
        acting_user("raj; rm -rf /")
    assert os.environ["MESHPLANE_USER"] == "raj"


def test_queries_on_unbuilt_ports_decide_access_first(mesh: Mesh) -> None:
    with pytest.raises(AccessDenied, match="restricted"):
        mesh.access.query("raj", f"SELECT * FROM {EVENTS}")
    with pytest.raises(QueryRejected, match="built"):
        mesh.access.query("amelie", f"SELECT * FROM {EVENTS}")
    with pytest.raises(AccessDenied, match="no product"):
        mesh.access.query("raj", "SELECT * FROM podcasts.secret_stuff.things")
