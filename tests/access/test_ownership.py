"""Ownership enforced: who may build, and loosening spec changes that wait for the owner's approval."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from meshplane.access.ownership import ChangeKind
from meshplane.errors import AccessDenied, PolicyViolation, UsageError
from meshplane.types import Address
from meshplane.workspace import Mesh

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "media"
EVENTS = "podcasts.listening_events.listening_events"
PRODUCT = "podcasts.listening_events"
PRODUCT_FILE = Path("domains/podcasts/listening_events/product.odps.yaml")
CONTRACT_FILE = Path("domains/podcasts/listening_events/listening_events.odcs.yaml")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "media"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
    with Mesh.open(target) as mesh:
        mesh.publish()  # what the catalog last published is the first baseline
        mesh.access.ensure_baselines("paolo")
    return target


def edit(root: Path, path: Path, old: str, new: str) -> None:
    text = (root / path).read_text()
    assert old in text
    (root / path).write_text(text.replace(old, new, 1))


def gate(mesh: Mesh, user: str | None = None) -> None:
    mesh.access.build_gate(user)(mesh.graph.products[Address.parse(PRODUCT)])


def test_only_the_owner_team_or_the_platform_team_may_build(root: Path) -> None:
    with Mesh.open(root) as mesh:
        for user in ("amelie", "bilal", "paolo", "sara"):
            mesh.access.assert_may_build(user, PRODUCT)
        with pytest.raises(AccessDenied, match=r"raj may not build podcasts.listening_events.*podcasts-team"):
            mesh.access.assert_may_build("raj", PRODUCT)
        with pytest.raises(AccessDenied, match="not a user"):
            mesh.access.assert_may_build("mallory", PRODUCT)
        gate(mesh)  # no acting user: ownership is not enforced, spec changes still are


def test_lowering_the_access_level_waits_for_the_owner(root: Path) -> None:
    edit(root, PRODUCT_FILE, "value: restricted}", "value: public}")
    with Mesh.open(root) as mesh:
        changes = mesh.access.spec_changes(PRODUCT)
        assert [(c.kind, c.before, c.after) for c in changes] == [(ChangeKind.ACCESS_LEVEL, "restricted", "public")]
        with pytest.raises(AccessDenied, match="restricted"):  # not in effect: still restricted
            mesh.access.query("raj", f"SELECT * FROM {EVENTS}")
        with pytest.raises(PolicyViolation, match=changes[0].id):
            gate(mesh, "amelie")
        for outsider in ("raj", "bilal_x"):
            with pytest.raises(AccessDenied):
                mesh.access.approve_spec_change(outsider, PRODUCT, changes[0].id)
        with pytest.raises(UsageError, match="no pending spec change"):
            mesh.access.approve_spec_change("amelie", PRODUCT, "000000000000")
        mesh.access.approve_spec_change("bilal", PRODUCT, changes[0].id)
        assert mesh.access.spec_changes(PRODUCT) == []
        gate(mesh, "amelie")
        with pytest.raises(Exception, match="built"):  # now public: the decision passes, there is no data
            mesh.access.query("raj", f"SELECT * FROM {EVENTS}")
        events = mesh.access.audit_log(subject=PRODUCT, limit=10)
        assert [e.action for e in events][:2] == ["spec.baseline", "spec.approve"]
        assert events[1].actor == "bilal" and events[1].detail["kind"] == "access_level"


def test_moving_a_product_needs_the_current_owner(root: Path) -> None:
    edit(root, PRODUCT_FILE, "name: podcasts-team", "name: royalties-team")
    with Mesh.open(root) as mesh:
        (change,) = mesh.access.spec_changes(PRODUCT)
        assert change.kind is ChangeKind.OWNER_TEAM and change.after == "royalties-team"
        with pytest.raises(AccessDenied):
            mesh.access.approve_spec_change("kofi", PRODUCT, change.id)  # the new team cannot take it
        with pytest.raises(AccessDenied, match="restricted"):
            mesh.access.query("kofi", f"SELECT * FROM {EVENTS}")  # and gets no owner rights meanwhile
        with pytest.raises(PolicyViolation):
            gate(mesh, "kofi")
        mesh.access.approve_spec_change("gina", PRODUCT, change.id)  # the governance team may
        gate(mesh, "kofi")
        with pytest.raises(AccessDenied):
            gate(mesh, "amelie")  # the old owner no longer builds it


def test_removing_a_mask_or_widening_grants_needs_approval(root: Path) -> None:
    # listener_email: no mask and no longer pii (a removal); ip_address: partial -> hash (a tightening)
    edit(root, CONTRACT_FILE, "customProperties: [{property: mask, value: hash}]", "customProperties: []")
    edit(root, CONTRACT_FILE, "classification: pii\n        description: E-mail", "classification: internal\n"
         "        description: E-mail")  # fmt: skip
    edit(root, CONTRACT_FILE, "{property: mask, value: partial}", "{property: mask, value: hash}")
    edit(
        root,
        PRODUCT_FILE,
        "      - {property: accessLevel, value: restricted}\n",
        "      - {property: accessLevel, value: restricted}\n"
        "      - {property: autoApprove, value: [royalties-team]}\n",
    )
    with Mesh.open(root) as mesh:
        changes = mesh.access.spec_changes(PRODUCT)
        kinds = sorted((c.kind.value, c.column or "") for c in changes)
        assert kinds == [("grant", "autoApprove"), ("mask", "listener_email")]
        effective = mesh.access.ledger.effective(PRODUCT).ports["listening_events"]
        assert effective.masks == {"listener_email": "hash", "ip_address": "hash"}
        assert effective.auto_approve == ()
        request = mesh.access.request_access("raj", EVENTS, "royalties")
        assert request.status.value == "pending"  # autoApprove is not in effect yet


def test_tightening_needs_no_approval(root: Path) -> None:
    edit(root, PRODUCT_FILE, "value: restricted}", "value: private}")
    with Mesh.open(root) as mesh:
        assert mesh.access.spec_changes() == []
        with pytest.raises(AccessDenied, match="private"):
            mesh.access.query("raj", f"SELECT * FROM {EVENTS}")
        gate(mesh, "amelie")  # the baseline moves to private
    edit(root, PRODUCT_FILE, "value: private}", "value: restricted}")
    with Mesh.open(root) as mesh:  # going back is a loosening now
        assert [c.kind for c in mesh.access.spec_changes(PRODUCT)] == [ChangeKind.ACCESS_LEVEL]


def test_baselines_of_many_new_products_are_those_recorded_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mesh with many products lacking a baseline reads the catalog's products once and writes every baseline
    in one transaction: the same events as recording them product by product."""
    from meshplane.access import ownership

    recorded: list[list[tuple[str, str, str]]] = []
    for one_by_one in (1_000, 0):
        monkeypatch.setattr(ownership, "_ONE_BY_ONE", one_by_one)
        target = tmp_path / f"media{one_by_one}"
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", ".meshplane", "__pycache__"))
        with Mesh.open(target) as mesh:
            mesh.access.ensure_baselines("paolo")
            events = mesh.platform.catalog.reader.audit_log(action=ownership.BASELINE_ACTION, limit=1_000)
            recorded.append(sorted((e.actor, e.subject, repr(sorted(e.detail.items()))) for e in events))
            products = len(mesh.graph.products)
    assert recorded[0] == recorded[1]
    assert len(recorded[0]) == products > 1
    assert all("('reason', 'first seen')" in detail for _, _, detail in recorded[0])


def test_a_product_known_to_have_a_baseline_costs_no_read_of_the_log(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meshplane.access import ownership

    with Mesh.open(root) as mesh:
        reader = mesh.platform.catalog.reader
        reads: list[str | None] = []
        real = reader.audit_log

        def counting(*args: object, **kwargs: object) -> object:
            reads.append(kwargs.get("action"))  # type: ignore[arg-type]
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(reader, "audit_log", counting)
        mesh.access.ensure_baselines("paolo")  # a new ledger reads the log once ...
        mesh.access.ensure_baselines("paolo")  # ... then knows every product has a baseline (append-only)
        assert reads.count(ownership.BASELINE_ACTION) == 1
        baselines = real(action=ownership.BASELINE_ACTION, limit=1_000)
        assert {e.subject for e in baselines} == {str(a) for a in mesh.graph.products}
