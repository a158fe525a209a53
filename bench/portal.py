"""Portal pages' server time on a mesh of 10,000 products. Target: every page under 300 ms.

    .venv/bin/python bench/portal.py [--products 10000] [--rounds 5]

Generates the tiny-product mesh of bench/build.py (100 products per domain), publishes it into a fresh SQLite
catalog, builds one product for real (so its page has a profile and sample rows) and records a history the
size of a busy platform's: one finished run per product with check results, 60 daily runs with profiles for
the product whose page is measured, and 10 policy evaluations over every product. Then the server starts
(``create_app`` and its lifespan's warm-up, timed per step: start-up is reported on its own, not hidden) and
each page is requested once (cold: its first request after start-up) and then ``--rounds`` times
in-process (FastAPI's TestClient: the server's time, without a network); prints the cold time beside the
median and max of the warm requests and the catalog queries each ran. A page meets the target only when both
its cold and its median time do. The machine is shared: the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import footer, header

HERE = Path(__file__).resolve().parent
TARGET_MS = 300.0


def _build_module() -> Any:
    spec = importlib.util.spec_from_file_location("meshplane_bench_build", HERE / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _history(mesh: Any, focus: str, products: list[str]) -> None:
    """A busy platform's catalog: a run per product, two months of the focus product, policy evaluations."""
    import sqlalchemy as sa

    from meshplane.catalog import CheckResult, PolicyResult, ProfileRecord, RunRecord, RunStatus, schema

    catalog = mesh.platform.catalog
    now = datetime.now(UTC)
    runs, checks = [], []
    for n, product in enumerate(products):
        run = uuid.uuid4().hex[:12]
        at = now - timedelta(hours=1 + n % 24)
        runs.append({"run_id": run, "product": product, "port": None, "status": RunStatus.SUCCESS.value,
                     "started_at": at, "ended_at": at + timedelta(seconds=2), "rows_written": 1,
                     "snapshot_id": "1", "error": None, "engine": "duckdb", "trigger": "schedule", "pid": None,
                     "host": "bench"})  # fmt: skip
        port = f"{product}.{product.split('.')[1]}"
        checks += [{"run_id": run, "rule_id": f"{port}.id.required", "port": port, "column_name": "id",
                    "metric": "required", "observed": 0.0, "threshold": "= 0", "passed": True, "severity": "error",
                    "sample": []} for _ in range(2)]  # fmt: skip

    def bulk(conn: Any) -> None:
        for table, rows in ((schema.runs, runs), (schema.check_results, checks)):
            for start in range(0, len(rows), 5000):
                conn.execute(sa.insert(table), rows[start : start + 5000])

    catalog.writer._db.write(bulk)  # bench only: 10,000 runs in one transaction, not 10,000
    writer = catalog.writer
    latest = mesh.profile(f"{focus}.{focus.split('.')[1]}")
    for day in range(60, 0, -1):
        at = now - timedelta(days=day)
        run = f"hist{day:03d}"
        writer.record_run(RunRecord(run, focus, RunStatus.SUCCESS, at, ended_at=at, rows_written=1, engine="duckdb"))
        writer.record_check_results(run, [CheckResult(f"{focus}.rows", f"{focus}.{focus.split('.')[1]}", True,
                                                      "rowCount", None, 1.0, "> 0")])  # fmt: skip
        if latest is not None:
            writer.record_profiles([ProfileRecord(latest.port, run, at, latest.row_count, latest.columns)])
    policies = ("product-has-owner", "ports-have-contracts", "pii-is-masked")
    for evaluation in range(10):
        at = now - timedelta(days=10 - evaluation)
        results = [PolicyResult(policy, product, "fail" if (n + evaluation) % 97 == 0 else "pass", "", "")
                   for n, product in enumerate(products) for policy in policies]  # fmt: skip
        writer.record_policy_results(f"check-bench{evaluation}", results, evaluated_at=at)


class _Counter:
    """Catalog statements per page (SQLAlchemy's cursor events on the catalog engine)."""

    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from meshplane.server import create_app
    from meshplane.workspace import Mesh

    build = _build_module()
    with tempfile.TemporaryDirectory(prefix="mp-bench-portal-") as tmp:
        root = Path(tmp) / "generated"
        started = time.perf_counter()
        build.generated_mesh(root, args.products)
        with Mesh.open(root) as mesh:
            mesh.publish()
            products = sorted(str(a) for a in mesh.graph.products)
            focus = products[0]
            assert mesh.build([focus]).ok
            _history(mesh, focus, products)
            print(f"{args.products:,} products generated, published and given a history in "
                  f"{time.perf_counter() - started:.0f} s")  # fmt: skip
            port = f"{focus}.{focus.split('.')[1]}"
            domain = focus.split(".")[0]
            owner = f"u_{domain}"
            token = mesh.platform.catalog.writer.create_token(owner, name="bench")[0]
            headers = {"Authorization": f"Bearer {token}"}
            pages = {
                "home": "/",
                "search": "/search?q=p00001",
                "domain": f"/domains/{domain}",
                "product": f"/products/{focus}",
                "port (lineage)": f"/ports/{port}",
                "impact": f"/ports/{port}/impact",
                "glossary": "/glossary",
                "map (focus)": f"/map?focus={focus}",
                "sql": "/sql",
                # the editor's lazy parts: completion and a named port's columns decide only the matching ports
                # (uncached); opening a domain decides that domain's ports (first request; then cached per person)
                "sql complete": f"/sql/complete?prefix={focus[:-1]}",
                "sql columns": f"/sql/columns/{port}",
                "sql domain": f"/sql/schema/{domain}",
                "governance": "/governance",
                "requests": "/requests",
                "inbox": "/inbox",
                "notifications": "/notifications",
                "api product": f"/api/v1/products/{focus}",
                "api profile": f"/api/v1/ports/{port}/profile",
            }
            counter = _Counter(mesh.platform.catalog.writer._db.engine)
            logging.disable(logging.INFO)  # request logs would drown the table (and cost time of their own)
            started = time.perf_counter()
            app = create_app(mesh, dev_mode=True)
            created = 1000 * (time.perf_counter() - started)
            stack = contextlib.ExitStack()
            started = time.perf_counter()
            client = stack.enter_context(TestClient(app, base_url="http://testserver"))  # the lifespan's start-up
            warmed = 1000 * (time.perf_counter() - started)
            steps = ", ".join(f"{k} {v:,.0f}" for k, v in getattr(app.state, "warm_up", {}).items())
            print(f"\nserver start-up (mesh open and published): create_app {created:,.0f} ms, lifespan warm-up "
                  f"{warmed:,.0f} ms ({steps} ms)")  # fmt: skip
            print(
                f"\n{'page':16} {'cold ms':>8} {'median ms':>10} {'max ms':>8} {'queries':>8}  "
                f"(target < {TARGET_MS:.0f} ms cold and median; cold: the page's first request after start-up)"
            )
            with stack:
                for name, url in pages.items():
                    t = time.perf_counter()
                    first = client.get(url, headers=headers)
                    cold = 1000 * (time.perf_counter() - t)
                    assert first.status_code == 200, (url, first.status_code, first.text[:300])
                    times, queries = [], []
                    for _ in range(args.rounds):
                        before = counter.count
                        t = time.perf_counter()
                        response = client.get(url, headers=headers)
                        times.append(1000 * (time.perf_counter() - t))
                        queries.append(counter.count - before)
                        assert response.status_code == 200, url
                    median = statistics.median(times)
                    verdict = "ok" if median < TARGET_MS and cold < TARGET_MS else "SLOW"
                    print(f"{name:16} {cold:8.1f} {median:10.1f} {max(times):8.1f} {statistics.median(queries):8.0f}  "
                          f"{verdict}")  # fmt: skip


if __name__ == "__main__":
    _started = header("portal pages: server time on a generated mesh")
    main()
    footer(_started)
