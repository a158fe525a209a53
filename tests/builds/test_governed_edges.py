"""The newcomer's case: a product reading another domain's restricted port needs an agreement.

Without one, `meshplane check` and the build fail with a located error and the command that requests it;
with one, the transform sees the port exactly as the agreement allows (agreed columns, PII masked, agreed
rows); revoking it blocks the next build and shows on both products' agreement lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from meshplane.builds import Status
from meshplane.errors import AccessDenied, UsageError
from meshplane.types import Address
from meshplane.workspace import Mesh

from .edges_mesh import RAW_EMAIL, ROW_FILTER, UNGRANTED, US_ROW, set_transform, write_edges_mesh

PORT = "crm.customers.customers"
RESULT = Address.parse("sales.reader.result")
INPUT_LINE = 13  # `- name: customers` under inputPorts in domains/sales/reader/product.odps.yaml

INSPECT = """\
import json

import pyarrow as pa


def transform(customers: pa.Table) -> pa.Table:
    seen = {"columns": customers.column_names, "rows": customers.to_pylist()}
    return pa.table({"x": [json.dumps(seen)]})
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_edges_mesh(tmp_path / "shop")
    with Mesh.open(root) as mesh:
        result = mesh.build(["crm"])
        assert result.ok, [o.error for o in result.outcomes]
    return root


@pytest.fixture
def mesh(root: Path) -> Iterator[Mesh]:
    with Mesh.open(root) as opened:
        yield opened


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]]]:
    from meshplane.cli.app import main

    capsys.readouterr()
    try:
        main(["check", str(root), "--format", "json"])
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    return code, json.loads(capsys.readouterr().out)["problems"]


def _build(root: Path) -> tuple[Status, str]:
    with Mesh.open(root) as mesh:
        [outcome] = mesh.build(["sales.reader"], full_refresh=True).outcomes
        return outcome.status, outcome.error or ""


def _seen(root: Path) -> dict[str, object]:
    with Mesh.open(root) as mesh:
        value = mesh.builds.read(RESULT)
    seen: dict[str, object] = json.loads(value.column("x")[0].as_py())
    return seen


def test_without_an_agreement_check_and_build_fail_located(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, problems = _check(root, capsys)
    assert code == 1
    [problem] = [p for p in problems if p["code"] == "agreement"]
    assert problem["path"] == "domains/sales/reader/product.odps.yaml" and problem["line"] == INPUT_LINE
    assert "sales.reader has no approved agreement to read crm.customers.customers" in str(problem["message"])
    assert str(problem["fix"]).startswith("meshplane agreement request sales.reader crm.customers.customers --purpose")

    status, error = _build(root)
    assert status is Status.FAILED
    assert error.startswith(f"domains/sales/reader/product.odps.yaml:{INPUT_LINE}:5: input port 'customers'")
    assert "meshplane agreement request sales.reader crm.customers.customers" in error
    with Mesh.open(root) as mesh:
        assert mesh.builds.current(RESULT) is None  # nothing was published


def test_with_an_agreement_only_agreed_columns_and_rows_arrive_masked(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Mesh.open(root) as mesh:
        with pytest.raises(AccessDenied, match="only its owner team or the platform team"):
            mesh.access.request_agreement("carla", "sales.reader", PORT, "not mine")
        request = mesh.access.request_agreement(
            "sam", "sales.reader", PORT, "Order totals per customer", ["customer_id", "email", "country"]
        )
        assert request.product == "sales.reader" and request.status.value == "pending"
        with pytest.raises(AccessDenied):
            mesh.access.approve("sam", request.id)  # the consumer cannot approve its own agreement
        grant = mesh.access.approve("carla", request.id, ROW_FILTER)
        assert grant.grantee == "product:sales.reader"
        with pytest.raises(UsageError, match="already holds agreement"):
            mesh.access.request_agreement("sam", "sales.reader", PORT, "again", ["customer_id", "email", "country"])
    assert _check(root, capsys)[0] == 0

    set_transform(root, INSPECT, "py")
    status, error = _build(root)
    assert status is Status.SUCCESS, error
    seen = _seen(root)
    assert seen["columns"] == ["customer_id", "email", "country"]  # `name` was not agreed
    rows = seen["rows"]
    assert isinstance(rows, list)
    assert {row["customer_id"] for row in rows} == {"c1", "c3"}  # the row filter drops the US row
    assert all(len(row["email"]) == 64 and "@" not in row["email"] for row in rows)  # hashed
    text = json.dumps(seen)
    assert RAW_EMAIL not in text and UNGRANTED not in text and US_ROW not in text

    # the SQL transform sees the same relation: the ungranted column does not exist
    set_transform(root, "SELECT name AS x FROM customers\n", "sql")
    status, error = _build(root)
    assert status is Status.FAILED and "name" in error and UNGRANTED not in error


def test_revoking_blocks_the_next_build_and_shows_on_both_sides(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Mesh.open(root) as mesh:
        request = mesh.access.request_agreement("sam", "sales.reader", PORT, "Order totals", ["customer_id"])
        # The producer's owner hears of the request (the notification outbox, delivered elsewhere).
        assert [n.kind for n in mesh.notifications.inbox("carla")] == ["agreement_requested"]
        mesh.access.approve("carla", request.id)
    assert _build(root)[0] is Status.SUCCESS
    with Mesh.open(root) as mesh:
        mesh.access.revoke("carla", request.id, note="contract ended")
        consumer_side = mesh.access.list_agreements(product="sales.reader")
        producer_side = mesh.access.list_agreements(port=PORT)
        assert [(v.id, v.state) for v in consumer_side] == [(request.id, "revoked")]
        assert [(v.id, v.state) for v in producer_side] == [(request.id, "revoked")]
        assert "agreement_revoked" in [n.kind for n in mesh.notifications.inbox("sam")]
        events = [e for e in mesh.access.audit_log() if e.action == "agreement.revoke"]
        assert events and events[-1].detail["product"] == "sales.reader" and events[-1].subject == PORT

    status, error = _build(root)
    assert status is Status.FAILED
    assert f"product.odps.yaml:{INPUT_LINE}:5" in error and "was revoked" in error
    code, problems = _check(root, capsys)
    assert code == 1 and any("was revoked" in str(p["message"]) for p in problems)


def test_public_ports_need_no_agreement_but_their_reads_are_recorded(root: Path) -> None:
    product = root / "domains/crm/customers/product.odps.yaml"
    product.write_text(product.read_text().replace("value: restricted", "value: public"))
    with Mesh.open(root) as mesh:  # loosening a port waits for its owner's approval
        for change in mesh.access.spec_changes("crm.customers"):
            mesh.access.approve_spec_change("carla", "crm.customers", change.id)
        result = mesh.build(["sales.reader"], full_refresh=True)
        assert result.ok, [o.error for o in result.outcomes]
        reads = [e for e in mesh.access.query_log() if e.username == "product:sales.reader"]
        assert reads and reads[-1].ports == (PORT,) and reads[-1].decision.value == "allowed"


def test_a_private_port_of_another_domain_cannot_be_agreed(mesh: Mesh) -> None:
    reader = mesh.root / "domains/sales/reader/product.odps.yaml"
    reader.write_text(reader.read_text().replace("crm.customers.customers", "crm.notes.notes"))
    with Mesh.open(mesh.root) as changed, pytest.raises(AccessDenied, match="private"):
        changed.access.request_agreement("sam", "sales.reader", "crm.notes.notes", "notes please")


def test_classification_flows_downstream_located_at_the_column(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Mesh.open(root) as mesh:
        request = mesh.access.request_agreement("sam", "sales.reader", PORT, "Order totals", ["customer_id", "email"])
        mesh.access.approve("carla", request.id)
    set_transform(root, "SELECT count(DISTINCT email)::VARCHAR AS x FROM customers WHERE email IS NOT NULL\n", "sql")
    assert _check(root, capsys)[0] == 0  # a count of e-mail addresses is not an e-mail address
    set_transform(root, "SELECT upper(email) AS x FROM customers\n", "sql")
    code, problems = _check(root, capsys)
    assert code == 1
    [problem] = [p for p in problems if p["code"] == "classification-flows-downstream"]
    assert problem["path"] == "domains/sales/reader/result.odcs.yaml" and problem["line"]
    assert "crm.customers.customers.email" in str(problem["message"]) and "pii" in str(problem["fix"])
    status, error = _build(root)
    assert status is Status.FAILED and "classification-flows-downstream" in error
    contract = root / "domains/sales/reader/result.odcs.yaml"
    contract.write_text(contract.read_text().replace(
        "        description: The x.\n",
        "        description: The x.\n        classification: pii\n        customProperties:\n"
        "          - {property: mask, value: hash}\n",
    ))  # fmt: skip
    # (classifying a published column is a breaking change; only the flow is asserted here)
    assert not [p for p in _check(root, capsys)[1] if p["code"] == "classification-flows-downstream"]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from meshplane.cli.app import main

    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_cli_requests_lists_approves_and_revokes(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = ["--mesh", str(root)]
    code, text = _cli(capsys, "agreement", "request", "sales.reader", PORT, "--purpose", "Order totals",
                      "--columns", "customer_id,country", "--as", "sam", *mesh)  # fmt: skip
    assert code == 0 and "pending" in text
    agreement = text.split()[1].rstrip(":")
    code, text = _cli(capsys, "agreement", "approve", agreement, "--as", "sam", *mesh)
    assert code == 1 and "may not approve" in text  # the consumer's own team cannot approve it
    code, text = _cli(capsys, "agreement", "approve", agreement, "--row-filter", ROW_FILTER, "--as", "carla", *mesh)
    assert code == 0 and "product:sales.reader may read crm.customers.customers" in text
    code, text = _cli(capsys, "agreement", "list", "sales.reader", "--format", "json", *mesh)
    [listed] = json.loads(text)
    assert listed["state"] == "approved" and listed["columns"] == "customer_id,country"
    assert listed["row_filter"] == ROW_FILTER and listed["requested_by"] == "sam"
    code, text = _cli(capsys, "agreement", "revoke", agreement, "--as", "carla", *mesh)
    assert code == 0 and "next build is refused" in text


def test_check_without_a_catalog_reports_the_missing_agreement(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone, never built: no agreement can have been approved, so check reports the input port with
    the command that requests one (the same problem as with a catalog), and creates no catalog."""
    fresh = write_edges_mesh(tmp_path / "fresh")
    code, problems = _check(fresh, capsys)
    assert code == 1
    [problem] = [p for p in problems if p["code"] == "agreement"]
    assert problem["path"] == "domains/sales/reader/product.odps.yaml" and problem["line"] == INPUT_LINE
    assert "sales.reader has no approved agreement to read crm.customers.customers" in str(problem["message"])
    assert str(problem["fix"]).startswith("meshplane agreement request sales.reader crm.customers.customers --purpose")
    assert not (fresh / ".meshplane").exists()  # no catalog, no state folder
    [with_catalog] = [p for p in _check(root, capsys)[1] if p["code"] == "agreement"]
    assert problem == with_catalog  # one rule, one wording, catalog or not


def test_check_without_a_catalog_keeps_public_and_same_domain_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = write_edges_mesh(tmp_path / "fresh")
    customers = fresh / "domains/crm/customers/product.odps.yaml"
    customers.write_text(customers.read_text().replace("value: restricted", "value: public"))
    assert _check(fresh, capsys)[0] == 0  # a public port needs no agreement
    customers.write_text(customers.read_text().replace("value: public", "value: restricted"))
    # a product of the port's own domain reads under the domain's policies: no agreement
    notes = fresh / "domains/crm/notes/product.odps.yaml"
    notes.write_text(notes.read_text().replace("outputPorts:", "inputPorts:\n  - name: customers\n    version: ^1.0.0\n"
                                               "    contractId: crm.customers.customers\noutputPorts:", 1))  # fmt: skip
    code, problems = _check(fresh, capsys)
    assert code == 1
    assert [p["path"] for p in problems if p["severity"] == "error"] == ["domains/sales/reader/product.odps.yaml"]
    assert not (fresh / ".meshplane").exists()


def test_a_staged_test_reads_its_inputs_through_the_same_decision(root: Path) -> None:
    """``meshplane test --staged`` runs the transform like a build: without an agreement it is refused at the
    input port; with one, the staged transform sees the agreed columns and rows, masked; and a result staged
    in the same run reaches only its own team's products (it has passed no access decision)."""
    # the transform shows what it received in its error (the staged result is discarded, the error is not)
    set_transform(root, "import pyarrow as pa\n\n\ndef transform(customers: pa.Table) -> pa.Table:\n"
                        "    raise ValueError(repr(customers.to_pylist()))\n", "py")  # fmt: skip
    with Mesh.open(root) as mesh:
        [port] = mesh.test(["sales.reader"], staged=True).ports
        assert port.error is not None and "no approved agreement to read crm.customers.customers" in port.error
        assert port.error.startswith(f"domains/sales/reader/product.odps.yaml:{INPUT_LINE}:5: input port")
        request = mesh.access.request_agreement("sam", "sales.reader", PORT, "totals", ["customer_id", "email"])
        mesh.access.approve("carla", request.id, ROW_FILTER)
    with Mesh.open(root) as mesh:
        [port] = mesh.test(["sales.reader"], staged=True).ports
        seen = port.error or ""
        assert "ValueError" in seen and "'customer_id': 'c1'" in seen, seen
        assert RAW_EMAIL not in seen and UNGRANTED not in seen and US_ROW not in seen and "'name'" not in seen
        assert mesh.builds.current(RESULT) is None  # nothing was published
        [both] = [p for p in mesh.test(["+sales.reader"], staged=True).ports if p.port == RESULT]
        assert both.error is not None and "staged in this run" in both.error and "crm.customers" in both.error
