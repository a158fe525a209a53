"""Notifications end to end: events go into the catalog's outbox, the deliverer POSTs them, signed, to a webhook
receiver on loopback, retries with exponential backoff, and logs every attempt; e-mail goes to an SMTP server on
loopback (aiosmtpd); inboxes show what concerns each user."""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from lineage.receiver import Receiver, receiver
from meshplane.errors import PolicyViolation
from meshplane.notifications import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from meshplane.spec import ProductSpec
from meshplane.types import Address, EventKind
from meshplane.workspace import Mesh
from meshplane.workspace.notices import agreement_notice
from meshplane.workspace.reminders import scan

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-for-tests"
ORDERS = Address.parse("shop.orders.orders")
CUSTOMERS = Address.parse("shop.customers.customers")

BUILD_KINDS = {
    EventKind.BUILD_FAILED, EventKind.QUALITY_CHECK_FAILED, EventKind.POLICY_VIOLATION,
    EventKind.BREAKING_CHANGE_PROPOSED, EventKind.BREAKING_CHANGE_PUBLISHED, EventKind.DEPRECATION_APPROACHING,
    EventKind.SLO_AT_RISK, EventKind.SLO_BREACHED, EventKind.AGREEMENT_REQUESTED, EventKind.AGREEMENT_REVOKED,
}  # fmt: skip
ACCESS_KINDS = {EventKind.ACCESS_REQUESTED, EventKind.ACCESS_DECIDED, EventKind.ACCESS_EXPIRING,
                EventKind.ACCESS_REVOKED}  # fmt: skip
PROFILE_KINDS = {EventKind.ANOMALY_DETECTED}
SCHEDULE_KINDS = {EventKind.BUILD_OVERDUE}  # test_overdue.py


def _load_test_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shop_helpers() -> ModuleType:
    return _load_test_module(ROOT / "tests" / "contracts" / "test_cli_quality.py", "shop_mesh_helpers_notify")


shop = _shop_helpers()


def notifications_yaml(url: str, subscriptions: str, *, backoff: float = 0.05, attempts: int = 6) -> str:
    return (
        "notifications:\n"
        "  channels:\n"
        f"    hook: {{type: webhook, url: '{url}', secret_env: TEST_WEBHOOK_SECRET}}\n"
        f"  retry: {{attempts: {attempts}, backoff_seconds: {backoff}, timeout_seconds: 2}}\n"
        f"  subscriptions:\n{subscriptions}"
    )


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)


def signed_bodies(got: Receiver) -> list[dict[str, object]]:
    """Every received body, after checking its HMAC signature."""
    bodies = []
    for request in got.requests:
        assert verify(SECRET.encode(), request.headers[TIMESTAMP_HEADER.lower()], request.body,
                      request.headers[SIGNATURE_HEADER.lower()])  # fmt: skip
        assert not verify(b"wrong", request.headers[TIMESTAMP_HEADER.lower()], request.body,
                          request.headers[SIGNATURE_HEADER.lower()])  # fmt: skip
        bodies.append(request.json())
    return bodies


def deliver_all(mesh: Mesh, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not mesh.notifications.store.due(datetime.now(UTC) + timedelta(days=1)):
            return
        mesh.deliver_notifications(scan=False)
        time.sleep(0.02)
    left = [(d.channel, d.status, d.attempts, d.last_error) for d in mesh.notifications.store.deliveries()]
    raise AssertionError(f"deliveries still pending: {left}")


# --- builds, contracts, SLOs, agreements (the shop mesh) --------------------------------------------------


def _shop(tmp_path: Path, url: str) -> Path:
    root = shop.make_shop_mesh(tmp_path)
    config = root / "mesh.yaml"
    text = config.read_text().replace(
        "  - name: shop-team\n    members: []",
        "  - name: shop-team\n    members: [{username: sam, role: owner}]\n"
        "  - name: other-team\n    members: [{username: olga, role: owner}]",
    )
    subscriptions = (
        "    - {subscriber: team:shop-team, channel: hook}\n"
        "    - {subscriber: product:shop.orders, events: [breaking_change_proposed], channel: hook}\n"
    )
    config.write_text(text + notifications_yaml(url, subscriptions))
    return root


def test_each_build_and_contract_event_reaches_a_subscribed_webhook(tmp_path: Path) -> None:
    with receiver() as got:
        root = _shop(tmp_path, got.url)
        with Mesh.open(root) as mesh:
            assert mesh.build().ok
            published = mesh.builds.current(ORDERS)
            assert published is not None
            refused = mesh.build(["shop.customers"], full_refresh=True, as_user="olga")  # not an owner
            assert refused.outcomes[0].refused == "AccessDenied"

            def policy(product: ProductSpec) -> None:
                raise PolicyViolation(f"{product.address}: retention longer than the policy allows")

            assert not mesh.build(["shop.customers"], full_refresh=True, gate=policy).ok
            # SLOs: orders promises a publish every 30 minutes (latency) and hourly (frequency).
            scan(mesh.notifications, published.timestamp + timedelta(minutes=26))
            scan(mesh.notifications, published.timestamp + timedelta(minutes=120))
            consumer, port = Address.parse("shop.orders"), CUSTOMERS
            for kind in (EventKind.AGREEMENT_REQUESTED, EventKind.AGREEMENT_REVOKED):
                mesh.notifications.emit(
                    agreement_notice(mesh.graph, kind, consumer=consumer, port=port, agreement_id="ag1", actor="sam")
                )
        shop.write_orders(root, shop.STRICT)  # every rule type fails on the rows orders produce
        with Mesh.open(root) as mesh:
            assert not mesh.build(["shop.orders"]).ok
        # A breaking change on customers (read by orders) without a major version: proposed, blocked.
        customers = root / "domains" / "shop" / "customers" / "customers.odcs.yaml"
        original = customers.read_text()
        customers.write_text(
            original.replace("physicalType: VARCHAR}", "physicalType: VARCHAR, classification: restricted}")
        )
        with Mesh.open(root) as mesh:
            assert not mesh.build(["shop.customers"]).ok
        customers.write_text(original)
        # A breaking change on orders with a new major version: published, with the diff; the old major's
        # deprecation date is three days away.
        soon = (date.today() + timedelta(days=3)).isoformat()
        shop.write_orders(root, shop.LENIENT.replace("classification: pii}", "classification: restricted}"),
                          version="2.0.0", custom=f"  - {{property: deprecationDate, value: '{soon}'}}\n")  # fmt: skip
        with Mesh.open(root) as mesh:
            assert mesh.build(["shop.orders"]).ok
            scan(mesh.notifications)
            assert got.requests == []  # nothing is sent while building: only the outbox is written
            deliver_all(mesh)
            log = mesh.notifications.store.deliveries()
            assert log and {d.status for d in log} == {"delivered"}
        bodies = signed_bodies(got)
    kinds = {EventKind(b["kind"]) for b in bodies}
    assert kinds == BUILD_KINDS
    by_kind = {EventKind(b["kind"]): b for b in bodies}
    published_diff = by_kind[EventKind.BREAKING_CHANGE_PUBLISHED]["details"]["diff"]  # type: ignore[index]
    assert published_diff["old_version"] == "1.0.0" and published_diff["new_version"] == "2.0.0"
    assert any(c["kind"] == "breaking" for c in published_diff["changes"])
    proposed = [b for b in bodies if b["kind"] == "breaking_change_proposed"]
    assert "product:shop.orders" in proposed[0]["audience"]  # the consuming product is told  # type: ignore[operator]
    assert {b["subject"] for b in proposed} == {str(CUSTOMERS)}
    failed = by_kind[EventKind.QUALITY_CHECK_FAILED]["details"]
    assert failed["checks"] and "sample" not in str(failed)  # type: ignore[index]
    # One webhook per notification and subscriber: the product's own subscription adds a second delivery.
    assert len(proposed) == 2
    assert {r.headers["x-meshplane-delivery"] for r in got.requests}.__len__() == len(got.requests)


# --- access (the media example: restricted ports, owners, an expiring grant) ----------------------------


@pytest.fixture
def media(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "media"
    shutil.copytree(
        ROOT / "examples" / "media", root, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__")
    )
    yield root


def test_access_events_reach_the_requester_and_the_owners(media: Path) -> None:
    streams = "films.streams.streams"
    with receiver() as got:
        config = media / "mesh.yaml"
        example = config.read_text().split("\nnotifications:\n")[0] + "\n"  # the example's own block goes
        config.write_text(example + notifications_yaml(got.url, (
            "    - {subscriber: user:raj, events: [access_decided, access_expiring, access_revoked], channel: hook}\n"
            "    - {subscriber: team:films-team, events: [access_requested], channel: hook}\n")))  # fmt: skip
        with Mesh.open(media) as mesh:
            until = (date.today() + timedelta(days=3)).isoformat()
            request = mesh.access.request_access("raj", streams, "film royalties", until=until)
            mesh.access.approve("fatima", request.id)
            assert scan(mesh.notifications) >= 1  # the grant expires within the 7-day window
            assert scan(mesh.notifications) == 0  # told once
            mesh.access.revoke("fatima", request.id)
            deliver_all(mesh)
            inbox = {r.kind for r in mesh.notifications.inbox("raj")}
            owners = {r.kind for r in mesh.notifications.inbox("gustav")}  # films-team engineer
            outsider = {r.kind for r in mesh.notifications.inbox("kofi")}  # royalties engineer: not his business
        bodies = signed_bodies(got)
    assert {EventKind(b["kind"]) for b in bodies} == ACCESS_KINDS
    # The scan also found SLOs of never-built ports breached; the access events are what matters here.
    access = {k.value for k in ACCESS_KINDS}
    assert inbox & access == access and owners & access == access
    assert not outsider & access
    requested = next(b for b in bodies if b["kind"] == "access_requested")
    assert requested["details"]["purpose"] == "film royalties"  # type: ignore[index]


def test_an_anomaly_reaches_a_subscribed_webhook(tmp_path: Path) -> None:
    """A build whose row count drops against the port's own weekly history: anomaly_detected, delivered signed."""
    from builds.meshes import EVENTS, write_events, write_mesh
    from meshplane.workspace.edges import agree_declared_as_owners

    history = _load_test_module(ROOT / "tests" / "workspace" / "test_profiles_anomalies.py", "profile_history")
    with receiver() as got:
        root = write_mesh(tmp_path / "mesh")
        with (root / "mesh.yaml").open("a") as handle:
            handle.write(notifications_yaml(got.url, "    - {subscriber: team:podcasts-team, events: "
                                                     "[anomaly_detected], channel: hook}\n"))  # fmt: skip
        with Mesh.open(root) as mesh:
            mesh.publish()
            agree_declared_as_owners(mesh.graph, mesh.access)
            assert mesh.build([f"+{history.PRODUCT}"]).ok
            first = mesh.profile(history.PORT)
            assert first is not None
            history._history(mesh, first)
            write_events(root, rows=EVENTS // 4)
            assert mesh.build([history.PRODUCT]).ok
            deliver_all(mesh)
        bodies = signed_bodies(got)
    assert {EventKind(b["kind"]) for b in bodies} == PROFILE_KINDS
    assert bodies[0]["details"]["metric"] == "row_count"  # type: ignore[index]


def test_every_event_kind_is_covered() -> None:
    assert set(EventKind) == BUILD_KINDS | ACCESS_KINDS | PROFILE_KINDS | SCHEDULE_KINDS


# --- retries, backoff, the delivery log ---------------------------------------------------------------


def test_a_receiver_that_fails_twice_gets_the_event_once_signed(tmp_path: Path) -> None:
    with receiver(status_for=lambda n: 500 if n < 2 else 204) as got:
        root = _shop(tmp_path, got.url)
        with Mesh.open(root) as mesh:
            assert not mesh.build(["shop.customers"], as_user="olga").ok
            deliver_all(mesh)
            [delivery] = mesh.notifications.store.deliveries()
            attempts = mesh.notifications.store.attempts(delivery.id)
        bodies = signed_bodies(got)
    assert [a.ok for a in attempts] == [False, False, True]
    assert [a.status_code for a in attempts] == [500, 500, 204]
    assert delivery.status == "delivered" and delivery.attempts == 3
    # Exponential backoff: the second wait is at least twice the configured 0.05 s.
    assert (attempts[1].at - attempts[0].at).total_seconds() >= 0.05
    assert (attempts[2].at - attempts[1].at).total_seconds() >= 0.1
    # Three requests of one delivery (same id), exactly one accepted: the receiver has the event once.
    assert len({r.headers["x-meshplane-delivery"] for r in got.requests}) == 1
    assert len(bodies) == 3 and len({b["id"] for b in bodies}) == 1  # type: ignore[misc]


def test_a_dead_receiver_is_given_up_after_the_configured_attempts_and_builds_never_call_it(tmp_path: Path) -> None:
    with receiver() as got:
        dead = got.url  # closed when the block ends: nothing listens there afterwards
    root = _shop(tmp_path, dead)
    config = root / "mesh.yaml"
    config.write_text(config.read_text().replace("attempts: 6", "attempts: 2"))
    with Mesh.open(root) as mesh:
        assert not mesh.build(["shop.customers"], as_user="olga").ok
        [delivery] = mesh.notifications.store.deliveries()
        assert delivery.attempts == 0  # the build only wrote the outbox
        deliver_all(mesh)
        [delivery] = mesh.notifications.store.deliveries()
        attempts = mesh.notifications.store.attempts(delivery.id)
    assert delivery.status == "failed" and [a.ok for a in attempts] == [False, False]
    assert all(a.error and "Error" in a.error for a in attempts)


# --- e-mail over SMTP ----------------------------------------------------------------------------------


def test_email_channel_sends_over_smtp_to_the_subscribers_address(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    class Keep(Sink):
        def __init__(self) -> None:
            self.messages: list[tuple[str, list[str], bytes]] = []

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
            return "250 OK"

    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        root = _shop(tmp_path, "http://127.0.0.1:9/unused")
        config = root / "mesh.yaml"
        text = (
            config.read_text()
            .replace(
                "    - {subscriber: team:shop-team, channel: hook}\n",
                "    - {subscriber: team:shop-team, events: [build_failed], channel: mail}\n",
            )
            .replace("  channels:\n", "  channels:\n    mail: {type: email}\n")
        )
        text += f"  smtp: {{host: 127.0.0.1, port: {controller.port}, sender: meshplane@shop.example}}\n"
        text += "users:\n  - {username: sam, name: Sam Owner, email: sam@shop.example}\n"
        config.write_text(text)
        with Mesh.open(root) as mesh:
            assert not mesh.build(["shop.customers"], as_user="olga").ok
            deliver_all(mesh)
    finally:
        controller.stop()
    [(sender, to, content)] = handler.messages
    assert sender == "meshplane@shop.example" and to == ["sam@shop.example"]
    assert b"X-Meshplane-Event: build_failed" in content and b"shop.customers" in content


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_notify_commands_deliver_show_the_inbox_and_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json as json_module

    from meshplane.cli.app import main

    def cli(*args: str) -> str:
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as done:
            assert done.code in (0, None), capsys.readouterr()
        return capsys.readouterr().out

    with receiver() as got:
        root = _shop(tmp_path, got.url)
        with Mesh.open(root) as mesh:
            assert not mesh.build(["shop.customers"], as_user="olga").ok
        inbox = json_module.loads(cli("notify", "inbox", "sam", "--mesh", str(root), "--format", "json"))
        assert [n["kind"] for n in inbox] == ["build_failed"]
        assert cli("notify", "inbox", "olga", "--mesh", str(root), "--format", "json").strip() == "[]"
        assert "1 delivered, 0 to retry, 0 given up" in cli("notify", "deliver", "--mesh", str(root), "--no-scan")
        log = json_module.loads(cli("notify", "log", "--mesh", str(root), "--format", "json"))
        assert [(d["channel"], d["status"], d["attempts"]) for d in log] == [("hook", "delivered", "1")]
    assert len(got.requests) == 1
