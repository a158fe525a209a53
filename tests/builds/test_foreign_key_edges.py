"""A contract's foreign key into another domain's port reads it through the access decision, as the product.

Without an agreement the check is refused, located at the relationship, with the agreement to request; with one
whose row filter hides rows, the check counts against the agreed rows only and says so; a column the agreement
does not grant (or grants masked) cannot be compared and is refused by name; no message carries a value of
the port's hidden rows or ungranted columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from meshplane.builds import Status
from meshplane.types import Address
from meshplane.workspace import Mesh

from .edges_mesh import PRIVATE, RAW_EMAIL, ROW_FILTER, UNGRANTED, US_ROW, write_edges_mesh

PORT = "crm.customers.customers"
CONTRACT = "domains/sales/reader/result.odcs.yaml"
FK_LINE = 20  # the relationship of the property x in the contract below
CANARIES = (RAW_EMAIL, UNGRANTED, US_ROW, PRIVATE, "canary.pii.us@example.com", "someone@example.org")

_RESULT = """\
apiVersion: {api}
kind: DataContract
id: sales.reader.result
name: result
version: 1.0.0
status: active
domain: sales
dataProduct: reader
schema:
  - name: result
    physicalType: table
    properties:
      - name: n
        logicalType: integer
        description: A row number.
{n_key}      - name: x
        logicalType: string
        description: The customer the row is about.
{x_key}slaProperties:
  - {{property: latency, value: 1, unit: h}}
  - {{property: frequency, value: 1, unit: d}}
"""


def _reader(root: Path, keys: list[str], *, column: str = "customer_id", inputs: bool = True, on: str = "x") -> None:
    """sales.reader publishes rows (n, x) with x from ``keys``; its property ``on`` is a foreign key to
    crm.customers.customers.<column> (its transform reads no input: the key values are its own): through its
    input port ``customers``, or, without it, by the port's address (ODCS v3.2.0 admits such a reference)."""
    folder = root / "domains/sales/reader"
    target, api = ("customers", "v3.1.0") if inputs else (PORT, "v3.2.0")
    key = f"        relationships:\n          - {{type: foreignKey, to: {target}.{column}}}\n"
    contract = _RESULT.format(api=api, n_key=key if on == "n" else "", x_key=key if on == "x" else "")
    (folder / "result.odcs.yaml").write_text(contract, "utf-8")
    values = ", ".join(f"({n}, {key})" for n, key in enumerate(keys))
    (folder / "result.sql").write_text(f"SELECT * FROM (VALUES {values}) AS t(n, x)\n", "utf-8")
    if not inputs:
        product = folder / "product.odps.yaml"
        text = product.read_text()
        start = text.index("inputPorts:")
        product.write_text(text[:start] + text[text.index("outputPorts:") :])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = write_edges_mesh(tmp_path / "shop")
    with Mesh.open(root) as mesh:
        result = mesh.build(["crm"])
        assert result.ok, [o.error for o in result.outcomes]
    return root


def _agree(root: Path, columns: list[str], row_filter: str | None = None) -> None:
    with Mesh.open(root) as mesh:
        request = mesh.access.request_agreement("sam", "sales.reader", PORT, "Check our customer keys", columns)
        mesh.access.approve("carla", request.id, row_filter)


def _build(root: Path) -> tuple[Status, str]:
    with Mesh.open(root) as mesh:
        [outcome] = mesh.build(["sales.reader"], full_refresh=True).outcomes
        return outcome.status, outcome.error or ""


def _clean(text: str) -> None:
    leaked = [canary for canary in CANARIES if canary in text]
    assert not leaked, text


def test_without_an_agreement_the_check_is_refused_located(root: Path) -> None:
    """The product declares no input port on crm.customers: its foreign key alone must not read the port."""
    _reader(root, ["'c1'"], inputs=False)
    status, error = _build(root)
    assert status is Status.FAILED
    assert error.startswith(f"{CONTRACT}:{FK_LINE}:")
    assert f"the foreign key reads {PORT}, which sales.reader may not read" in error
    assert f"sales.reader has no approved agreement to read {PORT}" in error
    assert "declare an input port reading crm.customers.customers" in error
    assert f"meshplane agreement request sales.reader {PORT}" in error
    _clean(error)
    with Mesh.open(root) as mesh:
        assert mesh.builds.current(Address.parse("sales.reader.result")) is None  # nothing was published
        reads = [e for e in mesh.access.query_log() if e.username == "product:sales.reader"]
        assert reads and reads[-1].ports == (PORT,) and reads[-1].decision.value == "denied"
        [port] = mesh.test(["sales.reader"], staged=True).ports  # a staged test is refused the same way
        assert port.error is not None and port.error.startswith(f"{CONTRACT}:{FK_LINE}:"), port.error


def test_with_a_row_filter_the_check_counts_against_the_agreed_rows_and_says_so(root: Path) -> None:
    _agree(root, ["customer_id", "country"], ROW_FILTER)
    _reader(root, ["'c1'", "'c3'"])  # both keys are in rows the agreement shows
    status, error = _build(root)
    assert status is Status.SUCCESS, error

    _reader(root, ["'c1'", f"'{US_ROW}'"])  # the key exists, but only in a row the agreement hides
    status, error = _build(root)
    assert status is Status.FAILED
    assert "x foreignKey = 1 rows" in error, error
    assert "checked against the rows of crm.customers.customers that product:sales.reader may read" in error
    assert "row filter hides the others" in error
    with Mesh.open(root) as mesh:
        reads = [e for e in mesh.access.query_log() if e.username == "product:sales.reader"]
        assert reads[-1].ports == (PORT,) and reads[-1].decision.value == "allowed"


def test_without_a_row_filter_every_key_is_found(root: Path) -> None:
    _agree(root, ["customer_id"])
    _reader(root, ["'c1'", f"'{US_ROW}'", "'c3'"])
    status, error = _build(root)
    assert status is Status.SUCCESS, error
    _reader(root, ["'c1'", "'nobody'"])
    status, error = _build(root)
    assert status is Status.FAILED and "x foreignKey = 1 rows" in error and "row filter" not in error, error


def test_an_ungranted_or_masked_target_column_is_refused_by_name(root: Path) -> None:
    _agree(root, ["country", "email"])  # customer_id and name are not agreed; email arrives hashed
    _reader(root, ["'c1'"])
    status, error = _build(root)
    assert status is Status.FAILED
    assert error.startswith(f"{CONTRACT}:{FK_LINE}:"), error
    assert "compares column(s) customer_id of crm.customers.customers, which product:sales.reader may not read" in error
    assert "it may read: country, email" in error
    _clean(error)

    _reader(root, ["'c1'"], column="email")
    status, error = _build(root)
    assert status is Status.FAILED and "compares column(s) email" in error and "reads masked" in error, error
    _clean(error)

    _reader(root, ["'c1'"], column="name")  # an ungranted column holding a canary value
    status, error = _build(root)
    assert status is Status.FAILED and "compares column(s) name" in error, error
    _clean(error)


def test_a_failing_comparison_shows_no_value_of_the_port(root: Path) -> None:
    """An integer key against the port's text keys: DuckDB's conversion error quotes the port's value; the check
    keeps only the kind of failure."""
    _agree(root, ["customer_id"])
    _reader(root, ["'c1'", "'c3'"], on="n")  # n is an integer
    status, error = _build(root)
    assert status is Status.FAILED
    assert "n foreignKey: could not run: the query failed while running: a value" in error, error
    _clean(error)
    assert "'c1'" not in error and "'c3'" not in error, error


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]]]:
    from meshplane.cli.app import main

    capsys.readouterr()
    try:
        main(["check", str(root), "--format", "json"])
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    problems: list[dict[str, object]] = json.loads(capsys.readouterr().out)["problems"]
    return code, problems


def test_check_reports_a_foreign_key_without_its_agreement_located(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the build refuses, check says first: at the relationship, with the command that requests the read."""
    product = root / "domains/sales/reader/product.odps.yaml"
    declared = product.read_text()
    _reader(root, ["'c1'"], inputs=False)
    code, problems = _check(root, capsys)
    assert code == 1
    [problem] = [p for p in problems if p["code"] == "agreement"]
    assert (problem["path"], problem["line"]) == (CONTRACT, FK_LINE)
    message = str(problem["message"])
    assert f"the foreign key reads {PORT}, which sales.reader may not read" in message
    assert f"sales.reader has no approved agreement to read {PORT}" in message
    fix = str(problem["fix"])
    assert fix.startswith("declare an input port reading crm.customers.customers under inputPorts:")
    assert f"meshplane agreement request sales.reader {PORT} --purpose" in fix

    product.write_text(declared)  # the fix: an input port, and the agreement for it
    _agree(root, ["customer_id"])
    _reader(root, ["'c1'"], inputs=False)  # held, the agreement also lets the foreign key read by address
    code, problems = _check(root, capsys)
    assert not [p for p in problems if p["code"] == "agreement"], problems


def test_check_without_a_catalog_reports_the_foreign_key_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh clone (never built, no catalog) holds no agreement: the foreign key is reported from the specs."""
    fresh = write_edges_mesh(tmp_path / "fresh")
    _reader(fresh, ["'c1'"], inputs=False)
    code, problems = _check(fresh, capsys)
    assert code == 1
    found = [p for p in problems if p["code"] == "agreement" and p["path"] == CONTRACT]
    assert [p["line"] for p in found] == [FK_LINE]
    assert f"meshplane agreement request sales.reader {PORT}" in str(found[0]["fix"])
    assert not (fresh / ".meshplane").exists() or not any((fresh / ".meshplane").glob("*.db"))


def test_a_foreign_key_through_an_input_port_is_reported_once(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through its input port, the port's own problem says what is missing; the relationship adds no second one."""
    _reader(root, ["'c1'"], inputs=True)
    _, problems = _check(root, capsys)
    found = [p for p in problems if p["code"] == "agreement"]
    assert len(found) == 1 and found[0]["path"] != CONTRACT
