"""bench/notify.py at tiny scale: the script runs and prints every contender (figures live in bench/README)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "notify.py"


@pytest.mark.slow
def test_notify_bench_runs_at_tiny_scale(tmp_path: Path) -> None:
    env = {**os.environ, "MESHPLANE_BENCH_DATA": str(tmp_path)}
    done = subprocess.run([sys.executable, str(BENCH), "--products", "2", "--repeat", "1"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    for contender in ("plain", "lineage-live", "lineage-dead", "refused", "refused-dead-webhook"):
        assert f"\n{contender} " in done.stdout
