"""bench/portal.py runs at tiny scale: every portal page it times renders, and the table is printed with its
conditions. The figures are not asserted (the 10,000-product run is in bench/README.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.slow


def test_portal_pages_bench(tmp_path: Path) -> None:
    env = {**os.environ, "MESHPLANE_BENCH_DATA": str(tmp_path)}
    done = subprocess.run([sys.executable, str(BENCH / "portal.py"), "--products", "30", "--rounds", "1"],
                          capture_output=True, text=True, env=env, timeout=900)  # fmt: skip
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    out = done.stdout
    assert "# machine:" in out and "load average before" in out and "# load average after" in out, out
    for page in ("home", "search", "domain", "product", "impact", "glossary", "governance", "inbox", "api profile"):
        assert f"\n{page} " in out, out
    assert "cold ms" in out and "queries" in out, out
