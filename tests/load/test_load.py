"""50 concurrent API clients for 60 s on loopback (search, product pages, small governed queries): no errors.

MESHPLANE_LOAD_SECONDS shortens the run; bench/load.py does the same with 10,000 products in the catalog.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from meshplane.workspace import Mesh
from server.helpers import CONSUMER, copy_media, start_server, stop_server

pytestmark = pytest.mark.load

BENCH = Path(__file__).resolve().parents[2] / "bench" / "load.py"


def test_fifty_clients_for_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))  # the bench scripts share bench/_common.py
    spec = importlib.util.spec_from_file_location("meshplane_bench_load", BENCH)
    assert spec is not None and spec.loader is not None
    driver = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = driver  # dataclasses look their module up while the class is built
    spec.loader.exec_module(driver)
    media = copy_media(tmp_path)
    with Mesh.open(media) as mesh:
        token, _ = mesh.platform.catalog.writer.create_token(CONSUMER, name="load test")
    process, url = start_server(media, dev=False, workers=os.cpu_count() or 1)
    try:
        result = driver.run_load(url, token, clients=50, seconds=float(os.environ.get("MESHPLANE_LOAD_SECONDS", "60")))
    finally:
        stop_server(process)
    print("\n" + result.report())
    assert not result.errors, result.errors[:5]
    assert set(result.latencies) == {"search", "product", "query"}
