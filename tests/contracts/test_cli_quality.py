"""`meshplane test`, `status`, `diff`, `check` (breaking changes) and `contract export|import`, end to end.

A two-product shop mesh: ``shop.customers`` and ``shop.orders`` (whose contract has a foreign key to the
customers port). Orders are built with a lenient contract, then the strict contract below is put in
place, so every rule type finds exactly the violation injected into the published rows.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from meshplane.catalog import CatalogStore
from meshplane.cli.app import main
from meshplane.spec.scaffold import new_domain, new_mesh
from meshplane.types import Address
from meshplane.workspace import Mesh

PRODUCT = """\
apiVersion: v1.0.0
kind: DataProduct
id: shop.{name}
name: {name}
domain: shop
version: {version}
status: active
description: {{purpose: Test product {name}.}}
team: {{name: shop-team}}
inputPorts: {inputs}
outputPorts:
  - name: {name}
    type: tables
    version: {version}
    contractId: shop.{name}.{name}
"""

CUSTOMERS_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: shop.customers.customers
name: customers
version: 1.0.0
status: active
domain: shop
dataProduct: customers
slaProperties:
  - {property: latency, value: 1, unit: d}
  - {property: frequency, value: 1, unit: d}
schema:
  - name: customers
    physicalType: table
    properties:
      - {name: customer_id, logicalType: integer, physicalType: INTEGER, required: true, primaryKey: true}
      - {name: country, logicalType: string, physicalType: VARCHAR}
"""

CUSTOMERS_SQL = "SELECT * FROM (VALUES (1, 'FR'), (2, 'DE'), (3, 'IT')) t(customer_id, country)\n"

# Row 5 is the only row breaking each rule: null email, empty status, status 'lost', order id 'bad',
# a duplicate line key, a negative amount and customer 9, who does not exist.
ORDERS_SQL = """\
SELECT *, TIMESTAMP '2026-12-01 10:00:00' AS placed_at FROM (VALUES
  ('O001', 1, 'placed',  10.0, 'a@x.io', 1),
  ('O002', 2, 'shipped', 20.0, 'b@x.io', 1),
  ('O003', 3, 'placed',  30.0, 'c@x.io', 1),
  ('O004', 1, '',        40.0, 'd@x.io', 1),
  ('bad',  9, 'lost',    -5.0, NULL,     1),
  ('O004', 2, 'placed',  50.0, 'e@x.io', 1)
) t(order_id, customer_id, status, amount, email, line)
WHERE (SELECT count(*) FROM customers) > 0
"""

ORDERS_HEAD = """\
apiVersion: v3.1.0
kind: DataContract
id: shop.orders.orders
name: orders
version: {version}
status: active
domain: shop
dataProduct: orders
slaDefaultElement: orders.placed_at
slaProperties:
  - {{property: latency, value: 30, unit: m}}
  - {{property: frequency, value: 1, unit: h}}
  - {{property: completeness, value: 99, unit: percent, element: orders.email}}
  - {{property: availability, value: 90, unit: percent}}
customProperties:
  - {{property: retention, value: P400D}}
{custom}schema:
  - name: orders
    physicalType: table
    properties:
"""

LENIENT = """\
      - {name: order_id, logicalType: string, physicalType: VARCHAR}
      - {name: customer_id, logicalType: integer, physicalType: INTEGER}
      - {name: status, logicalType: string, physicalType: VARCHAR}
      - {name: amount, logicalType: number, physicalType: 'DECIMAL(4,1)'}
      - {name: email, logicalType: string, physicalType: VARCHAR, customProperties: [{property: mask, value: hash}],
         classification: pii}
      - {name: line, logicalType: integer, physicalType: INTEGER}
      - {name: placed_at, logicalType: timestamp, physicalType: TIMESTAMP}
"""

STRICT = """\
      - name: order_id
        logicalType: string
        physicalType: VARCHAR
        quality:
          - {metric: invalidValues, arguments: {pattern: '^O[0-9]{3}$'}, mustBe: 0}
      - name: customer_id
        logicalType: integer
        physicalType: INTEGER
        relationships: [{type: foreignKey, to: customers.customer_id}]
      - name: status
        logicalType: string
        physicalType: VARCHAR
        quality:
          - {metric: missingValues, arguments: {missingValues: [null, '']}, mustBe: 0}
          - {metric: invalidValues, arguments: {validValues: [placed, shipped, '']}, mustBe: 0}
      - {name: amount, logicalType: number, physicalType: 'DECIMAL(4,1)'}
      - name: email
        logicalType: string
        physicalType: VARCHAR
        classification: pii
        customProperties: [{property: mask, value: hash}]
        quality:
          - {metric: nullValues, mustBe: 0}
          - {metric: nullValues, unit: percent, mustBeLessThan: 10, severity: warning}
      - {name: line, logicalType: integer, physicalType: INTEGER}
      - {name: placed_at, logicalType: timestamp, physicalType: TIMESTAMP}
    quality:
      - {metric: rowCount, mustBeGreaterThan: 10}
      - {metric: duplicateValues, arguments: {properties: [order_id, line]}, mustBe: 0}
      - {type: sql, query: 'SELECT count(*) FROM {object} WHERE amount < 0', mustBe: 0}
"""


def write_orders(mesh: Path, body: str, version: str = "1.0.0", extra: str = "", custom: str = "") -> Path:
    """``custom`` adds entries (``  - {property: ..., value: ...}`` lines) to the contract's customProperties."""
    folder = mesh / "domains" / "shop" / "orders"
    inputs = "\n  - {name: customers, version: '^1.0.0', contractId: shop.customers.customers}"
    (folder / "product.odps.yaml").write_text(PRODUCT.format(name="orders", version=version, inputs=inputs))
    path = folder / "orders.odcs.yaml"
    path.write_text(ORDERS_HEAD.format(version=version, custom=custom) + body + extra)
    return path


def make_shop_mesh(root: Path) -> Path:
    """The shop mesh, checked clean (not built)."""
    mesh = root / "shop"
    mesh.mkdir()
    new_mesh(mesh, "shop")
    new_domain(mesh, "shop", None)
    config = mesh / "mesh.yaml"  # sam owns the shop's products (failing rows and errors are the owners')
    owners = "- name: shop-team\n    members: [{username: sam, role: owner}]"
    config.write_text(config.read_text().replace("- name: shop-team\n    members: []", owners))
    customers = mesh / "domains" / "shop" / "customers"
    customers.mkdir(parents=True)
    (customers / "product.odps.yaml").write_text(PRODUCT.format(name="customers", version="1.0.0", inputs="[]"))
    (customers / "customers.odcs.yaml").write_text(CUSTOMERS_CONTRACT)
    (customers / "customers.sql").write_text(CUSTOMERS_SQL)
    (mesh / "domains" / "shop" / "orders").mkdir()
    (mesh / "domains" / "shop" / "orders" / "orders.sql").write_text(ORDERS_SQL)
    write_orders(mesh, LENIENT)
    return mesh


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


@pytest.fixture
def built(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The shop mesh built with the lenient orders contract, then switched to the strict one."""
    mesh = make_shop_mesh(tmp_path)
    code, _, errors = run(capsys, "build", "--mesh", str(mesh))
    assert code == 0, errors
    write_orders(mesh, STRICT)
    return mesh


def _results(report: dict[str, Any], port: str) -> dict[str, dict[str, Any]]:
    entry = next(p for p in report["ports"] if p["port"] == port)
    return {r["rule"]: r for r in entry["results"]}


def test_every_rule_type_catches_its_injected_violation(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "test", "shop.orders", "--mesh", str(built), "--format", "json", "--as", "sam")
    assert code == 1
    results = _results(json.loads(text), "shop.orders.orders")
    expected = {
        "shop.orders.orders.order_id.invalidValues": 1,  # 'bad' breaks the pattern
        "shop.orders.orders.customer_id.foreignKey": 1,  # customer 9
        "shop.orders.orders.status.missingValues": 1,  # ''
        "shop.orders.orders.status.invalidValues": 1,  # 'lost'
        "shop.orders.orders.email.nullValues": 1,
        "shop.orders.orders.email.nullValues_2": pytest.approx(100 / 6, rel=1e-4),  # percent of rows
        "shop.orders.orders.orders.rowCount": 6,
        "shop.orders.orders.order_id+line.duplicateValues": 1,
        "shop.orders.orders.orders.sql": 1,
    }
    for rule, observed in expected.items():
        assert rule in results, sorted(results)
        assert results[rule]["passed"] is False, rule
        assert results[rule]["observed"] == observed, rule
    assert results["shop.orders.orders.email.nullValues_2"]["severity"] == "warning"
    assert results["shop.orders.orders.email.nullValues_2"]["unit"] == "percent"
    sample = results["shop.orders.orders.email.nullValues"]["sample"]
    assert sample and sample[0]["order_id"] == "bad"
    assert results["shop.orders.orders.status.invalidValues"]["sample"][0]["email"] is None  # null stays null
    assert results["shop.orders.orders.order_id.invalidValues"]["sample"][0]["email"] is None
    passing = [r for r in results.values() if r["passed"]]
    assert passing, "the schema checks pass"

    with CatalogStore.for_mesh(built) as catalog:
        run_record = catalog.reader.runs("shop.orders", limit=1)[0]
        assert (run_record.trigger, run_record.status.value) == ("test", "failed")
        stored = {c.rule_id: c for c in catalog.reader.check_results(run_id=run_record.run_id)}
    assert stored["shop.orders.orders.customer_id.foreignKey"].observed == 1.0
    assert stored["shop.orders.orders.customer_id.foreignKey"].passed is False
    assert stored["shop.orders.orders.orders.rowCount"].observed == 6.0
    assert stored["shop.orders.orders.email.nullValues"].sample[0]["email"] is None


def test_pii_values_are_masked_in_samples(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "test", "shop.orders", "--mesh", str(built), "--format", "json", "--as", "sam")
    assert code == 1
    sample = _results(json.loads(text), "shop.orders.orders")["shop.orders.orders.orders.sql"]["sample"]
    # sql rules have no per-row sample; the duplicate key sample shows rows with a masked e-mail
    dup = _results(json.loads(text), "shop.orders.orders")["shop.orders.orders.order_id+line.duplicateValues"]
    assert sample == [] or all(row.get("email") in (None, "***") for row in sample)
    assert all(row.get("email") in (None, "***") for row in dup["sample"])


def test_passing_contract_exits_zero_and_warnings_do_not_fail(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "test", "shop.customers", "--mesh", str(built))
    assert code == 0
    assert "shop.customers.customers" in text


def test_junit_output_parses(built: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    code, _, _ = run(capsys, "test", "--mesh", str(built), "--format", "junit", "--output", str(target))
    assert code == 1
    root = ET.parse(target).getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"shop.customers.customers", "shop.orders.orders"}
    orders = suites["shop.orders.orders"]
    failures = [c.get("name") for c in orders.iter("testcase") if c.find("failure") is not None]
    assert "shop.orders.orders.customer_id.foreignKey" in failures
    assert "shop.orders.orders.email.nullValues_2" not in failures  # a warning
    assert int(orders.get("failures") or 0) == len(failures) == 8
    assert int(root.get("tests") or 0) == sum(int(s.get("tests") or 0) for s in suites.values())
    assert suites["shop.customers.customers"].get("failures") == "0"


def test_staged_checks_a_fresh_build_without_publishing(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = Address.parse("shop.orders.orders")
    with Mesh.open(built) as mesh:
        before = mesh.builds.current(port)
    code, text, _ = run(capsys, "test", "shop.orders", "--staged", "--mesh", str(built), "--format", "json")
    assert code == 1
    report = json.loads(text)
    assert report["staged"] is True
    assert _results(report, "shop.orders.orders")["shop.orders.orders.orders.sql"]["observed"] == 1
    with Mesh.open(built) as mesh:
        current = mesh.builds.current(port)
        assert before is not None and current is not None
        assert current.snapshot_id == before.snapshot_id  # nothing was published
        folders = list(mesh.platform.tables.iter_run_folders(current.table_id))
    assert len(folders) == 1  # only the published run's folder: the staged one was discarded


def test_never_published_port_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = make_shop_mesh(tmp_path)
    code, _, errors = run(capsys, "test", "--mesh", str(mesh), "--as", "sam")
    assert code == 1
    assert "never published" in errors


def test_samples_and_errors_only_for_owners(built: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """``meshplane test`` shows failing rows through the REST API's decision: the owner sees them, a user who
    does not own the port (declared or not, named or from the environment) sees the failures without rows."""
    monkeypatch.delenv("MESHPLANE_USER", raising=False)
    owner = json.loads(run(capsys, "test", "shop.orders", "--mesh", str(built), "--format", "json", "--as", "sam")[1])
    assert _results(owner, "shop.orders.orders")["shop.orders.orders.email.nullValues"]["sample"]
    for args, env in ((("--as", "admin"), None), ((), "admin"), ((), None), ((), "nobody-here")):
        if env is not None:
            monkeypatch.setenv("MESHPLANE_USER", env)
        code, text, errors = run(capsys, "test", "shop.orders", "--mesh", str(built), "--format", "json", *args)
        assert code == 1  # the failures are reported, only their rows are not
        results = _results(json.loads(text), "shop.orders.orders")
        assert results["shop.orders.orders.email.nullValues"]["passed"] is False
        assert all(r["sample"] == [] for r in results.values()), (args, env)
        assert "'bad'" not in text and '"bad"' not in text
        assert "shown to the product's owner team only" in errors
        monkeypatch.delenv("MESHPLANE_USER", raising=False)
    fresh = built.parent / "fresh"
    fresh.mkdir()
    code, _, errors = run(capsys, "test", "--mesh", str(make_shop_mesh(fresh)), "--as", "admin")
    assert code == 1 and "never published" not in errors and "the build failed" in errors


# --- diff and the breaking-change gate ----------------------------------------------------------------

CHANGES = [
    # (what to replace in the lenient contract, replacement, kind, code)
    ("      - {name: line, logicalType: integer, physicalType: INTEGER}\n", "", "breaking", "column_removed"),
    ("physicalType: 'DECIMAL(4,1)'}", "physicalType: 'DECIMAL(4,1)', required: true}", "additive", "required_added"),
    (
        "{name: line, logicalType: integer, physicalType: INTEGER}",
        "{name: line, logicalType: integer, physicalType: BIGINT}",
        "additive",
        "type_widened",
    ),
    (
        "{name: line, logicalType: integer, physicalType: INTEGER}",
        "{name: line, logicalType: integer, physicalType: SMALLINT}",
        "breaking",
        "type_narrowed",
    ),
    ("classification: pii}", "classification: restricted}", "breaking", "classification_raised"),
    (
        "classification: pii}",
        "classification: pii, description: The buyer's e-mail.}",
        "cosmetic",
        "description_changed",
    ),
    (
        "{name: status, logicalType: string, physicalType: VARCHAR}",
        "{name: status, logicalType: string, physicalType: VARCHAR, unique: true}",
        "additive",
        "unique_added",
    ),
    ("value: 30, unit: m}", "value: 2, unit: h}", "breaking", "slo_weakened"),
    ("value: 30, unit: m}", "value: 10, unit: min}", "additive", "slo_strengthened"),
]


@pytest.mark.parametrize(("old", "new", "kind", "code"), CHANGES, ids=[c[3] + f"-{i}" for i, c in enumerate(CHANGES)])
def test_diff_classifies_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, kind: str, code: str
) -> None:
    mesh = make_shop_mesh(tmp_path)
    assert run(capsys, "publish", "--mesh", str(mesh))[0] == 0
    contract = mesh / "domains" / "shop" / "orders" / "orders.odcs.yaml"
    text = contract.read_text()
    assert old in text
    contract.write_text(text.replace(old, new, 1))
    exit_code, out, _ = run(capsys, "diff", "shop.orders", "--mesh", str(mesh), "--format", "json")
    [report] = json.loads(out)
    found = {(c["kind"], c["code"]) for c in report["changes"]}
    assert (kind, code) in found, found
    assert report["needs_major_bump"] is (kind == "breaking")
    assert exit_code == (1 if kind == "breaking" else 0)
    if kind == "breaking":
        hit = next(c for c in report["changes"] if c["code"] == code)
        assert hit["products"] == []  # nothing reads orders
    # the customers port is unchanged and names its consumers when it breaks
    assert run(capsys, "diff", "shop.customers", "--mesh", str(mesh), "--format", "json")[0] == 0


def test_breaking_change_hits_downstream_products(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = make_shop_mesh(tmp_path)
    run(capsys, "publish", "--mesh", str(mesh))
    contract = mesh / "domains" / "shop" / "customers" / "customers.odcs.yaml"
    contract.write_text(
        contract.read_text().replace("      - {name: country, logicalType: string, physicalType: VARCHAR}\n", "")
    )
    code, out, _ = run(capsys, "diff", "--mesh", str(mesh), "--format", "json")
    assert code == 1
    report = {d["port"]: d for d in json.loads(out)}["shop.customers.customers"]
    [change] = [c for c in report["changes"] if c["kind"] == "breaking"]
    assert change["code"] == "column_removed" and change["products"] == ["shop.orders"]


def test_diff_against_a_git_revision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = make_shop_mesh(tmp_path)
    git = ["git", "-C", str(mesh), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    contract = write_orders(mesh, LENIENT.replace("classification: pii}", "classification: restricted}"))
    assert contract.is_file()
    code, out, _ = run(capsys, "diff", "shop.orders", "--mesh", str(mesh), "--against", "HEAD", "--format", "json")
    assert code == 1
    [report] = json.loads(out)
    assert report["against"] == "HEAD"
    assert ("breaking", "classification_raised") in {(c["kind"], c["code"]) for c in report["changes"]}
    code, _, errors = run(capsys, "diff", "--mesh", str(mesh), "--against", "no-such-ref")
    assert code == 2 and "not a git revision" in errors


def test_check_blocks_breaking_change_without_major_bump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mesh = make_shop_mesh(tmp_path)
    assert run(capsys, "check", str(mesh))[0] == 0  # nothing published yet: nothing to compare with
    assert not (mesh / ".meshplane" / "catalog.db").exists()  # and check created no catalog
    run(capsys, "publish", "--mesh", str(mesh))
    write_orders(mesh, LENIENT.replace("      - {name: line, logicalType: integer, physicalType: INTEGER}\n", ""))
    code, _, errors = run(capsys, "check", str(mesh))
    assert code == 1
    assert "domains/shop/orders/orders.odcs.yaml:" in errors
    assert "breaking change without a new major version (1.0.0 -> 1.0.0)" in errors
    assert "column line removed" in errors and "[breaking-change]" in errors and "version: 2.0.0" in errors
    write_orders(
        mesh,
        LENIENT.replace("      - {name: line, logicalType: integer, physicalType: INTEGER}\n", ""),
        version="2.0.0",
    )
    code, _, errors = run(capsys, "check", str(mesh))
    assert code == 0, errors


# --- interop ---------------------------------------------------------------------------------------


def test_export_import_round_trip(built: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    exported = tmp_path / "orders.odcs.yaml"
    assert run(capsys, "contract", "export", "shop.orders.orders", "--mesh", str(built), "-o", str(exported))[0] == 0
    reimported = tmp_path / "again.odcs.yaml"
    assert run(capsys, "contract", "import", str(exported), "--output", str(reimported))[0] == 0
    assert reimported.read_text() == exported.read_text()
    from meshplane.contracts import import_contract

    with Mesh.open(built) as mesh:
        assert import_contract(exported) == mesh.contract("shop.orders.orders")
    for fmt, marker in (("jsonschema", '"properties"'), ("sql-ddl", "CREATE TABLE"), ("dbt", "models:")):
        code, text, _ = run(capsys, "contract", "export", "shop.orders.orders", "--mesh", str(built), "-f", fmt)
        assert code == 0 and marker in text, fmt


def test_import_data_contract_specification(capsys: pytest.CaptureFixture[str]) -> None:
    fixture = Path(__file__).parent / "fixtures" / "orders.dcs.yaml"
    code, text, _ = run(capsys, "contract", "import", str(fixture))
    assert code == 0
    assert "apiVersion: v3" in text and "kind: DataContract" in text
    assert run(capsys, "contract", "import", "/no/such/file.yaml")[0] == 2
