"""ODCS `text` and `custom` quality rules are never skipped silently: `test` output (text, JSON, JUnit), the
catalog and the portal show them as "not executed"."""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_cli_quality import LENIENT, make_shop_mesh, run, write_orders

from meshplane.catalog import CatalogStore
from meshplane.server import create_app
from meshplane.workspace import Mesh

RULES = """\
    quality:
      - {type: text, description: Every order is reviewed by finance before month end.}
      - type: custom
        engine: soda
        description: Amounts are positive (Soda).
        implementation: |
          checks for orders:
            - min(amount) >= 0
"""


@pytest.fixture
def mesh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = make_shop_mesh(tmp_path)
    write_orders(root, LENIENT + RULES)
    code, _, errors = run(capsys, "build", "--mesh", str(root))
    assert code == 0, errors
    return root


def test_text_and_custom_rules_are_reported_not_executed(mesh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = run(capsys, "test", "shop.orders", "--mesh", str(mesh))
    assert code == 0  # neither passes nor fails, never blocks
    assert "not executed shop.orders.orders.orders.text:" in text
    assert "finance before month end.: not executed (a text rule is for people to read)" in text
    assert "not executed shop.orders.orders.orders.custom:" in text
    assert "custom rule for soda" in text
    assert "2 not executed" in text

    code, text, _ = run(capsys, "test", "shop.orders", "--mesh", str(mesh), "--format", "json")
    results = {r["rule"]: r for r in json.loads(text)["ports"][0]["results"]}
    for rule in ("shop.orders.orders.orders.text", "shop.orders.orders.orders.custom"):
        assert results[rule]["executed"] is False and results[rule]["threshold"] == "not executed"
    assert all(r["executed"] for k, r in results.items() if not k.endswith((".text", ".custom")))

    code, text, _ = run(capsys, "test", "shop.orders", "--mesh", str(mesh), "--format", "junit")
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None and suite.get("skipped") == "2"
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["shop.orders.orders.orders.text", "shop.orders.orders.orders.custom"]


def test_the_catalog_and_portal_show_them_not_executed(mesh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "test", "shop.orders", "--mesh", str(mesh))[0] == 0  # records a test run
    with Mesh.open(mesh) as opened:
        store: CatalogStore = opened.platform.catalog
        stored = {c.rule_id: c for c in store.reader.check_results(port="shop.orders.orders")}
        assert stored["shop.orders.orders.orders.custom"].executed is False
        assert stored["shop.orders.orders.orders.text"].threshold == "not executed"
        assert stored["shop.orders.orders.order_id.present"].executed is True

        token = store.writer.create_token("admin", name="tests")[0]
        with warnings.catch_warnings():  # starlette nags about httpx vs httpx2; the pinned httpx works
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient
        with TestClient(create_app(opened, dev_mode=True), base_url="http://testserver") as client:
            page = client.get("/products/shop.orders", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert "2 not executed)" in page.text
    assert page.text.count("<td>not executed</td>") == 2


GE_RULES = """\
    quality:
      - type: custom
        engine: greatExpectations
        description: Between 1 and 10 orders.
        implementation: |
          type: expect_table_row_count_to_be_between
          kwargs: {minValue: 1, maxValue: 10}
      - type: custom
        engine: greatExpectations
        description: Amounts are at most 45.
        implementation:
          type: expect_column_values_to_be_between
          kwargs: {column: amount, maxValue: 45}
      - type: custom
        engine: greatExpectations
        description: A misspelt expectation.
        implementation: {type: expect_rows_to_be_nice}
"""


def test_great_expectations_custom_rules_run_when_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meshplane.contracts.custom import great_expectations_installed

    assert great_expectations_installed()  # the great-expectations extra is part of the test install
    root = make_shop_mesh(tmp_path)
    write_orders(root, LENIENT + GE_RULES)
    code, _, errors = run(capsys, "build", "--mesh", str(root))
    assert code == 1, errors  # the amount rule fails (50.0 > 45): a blocking error-severity check
    write_orders(root, LENIENT)
    assert run(capsys, "build", "--mesh", str(root))[0] == 0
    write_orders(root, LENIENT + GE_RULES)
    code, text, _ = run(capsys, "test", "shop.orders", "--mesh", str(root), "--format", "json")
    results = {r["rule"]: r for r in json.loads(text)["ports"][0]["results"]}
    count, amounts, misspelt = (results[f"shop.orders.orders.orders.custom{s}"] for s in ("", "_2", "_3"))
    assert (count["executed"], count["passed"], count["observed"]) == (True, True, 6)
    assert (amounts["executed"], amounts["passed"], amounts["observed"]) == (True, False, 1)
    assert "expect_column_values_to_be_between not met" in amounts["message"]
    assert misspelt["passed"] is False and "has no expectation 'expect_rows_to_be_nice'" in misspelt["message"]
    assert code == 1
