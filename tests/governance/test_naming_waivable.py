"""Naming conventions are policies of the standard pack: reported with their place, and waivable."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshplane.cli.app import main

from .conftest import write_mesh

SALES_C = "domains/sales/orders/orders.odcs.yaml"


def _check(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["check", str(root)])
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def test_a_camel_case_column_is_a_policy_violation_not_a_reading_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = write_mesh(tmp_path / "shop", {SALES_C: ("- name: amount", "- name: totalAmount")})
    (root / "domains/sales/orders/orders.sql").write_text(
        "SELECT 'o1' AS order_id, customer_id, 1.0 AS \"totalAmount\" FROM customers\n", "utf-8"
    )
    code, out = _check(root, capsys)
    assert code == 1
    assert "column name 'totalAmount' in sales.orders.orders is not lower_snake_case [column-naming]" in out
    assert "[column-name]" not in out  # no hard error from the reader

    (root / "waivers.yaml").write_text(
        "waivers:\n"
        "  - policy: column-naming\n"
        "    subject: sales.orders.orders\n"
        "    reason: The column name comes from the upstream CRM export.\n"
        "    approver: gina\n"
        "    expires: 2099-12-31\n",
        "utf-8",
    )
    code, out = _check(root, capsys)
    assert code == 0, out
