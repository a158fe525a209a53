"""Organisation scale: the warehouse on S3 beside local disk, and `plan` with a PostgreSQL catalog.

    .venv/bin/python bench/orgscale.py [--sf 1] [--repeat 3] [--plan 10000] [--no-postgres]

1. The TPC-H mesh of bench/build.py, built (in-process, --jobs 2) and queried through the governed gateway
   (Q1, Q3, Q5 of bench/query.py, as a mesh user; masks on) twice side by side: warehouse in a local folder,
   and in a bucket of moto's S3 server on loopback (started here; `moto[server]`). Prints the ratio and where
   the S3 build's time goes (uploading staged files, reading their footers back for the commit, the rest),
   and per query DuckDB's own time inside the sandbox vs the gateway's.
2. `meshplane plan --format json` as a whole process on a generated mesh of N products whose catalog is a
   PostgreSQL database (127.0.0.1:5432, created and dropped here): first run and next runs. Target < 5 s.

Loopback S3 measures the protocol's cost (HTTP requests, signing, moto's Python server), not a network's:
a real bucket adds latency per request. The machine is shared: read ratios, and the load average printed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import MESHPLANE, footer, header, whole_process

HERE = Path(__file__).resolve().parent
S3_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench-key",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
}


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"meshplane_bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("moto's S3 server did not start: pip install 'moto[server]'") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _bucket(endpoint: str) -> str:
    from pyarrow import fs

    name = f"bench-{uuid.uuid4().hex[:8]}"
    fs.S3FileSystem(
        access_key=S3_ENV["AWS_ACCESS_KEY_ID"],
        secret_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        endpoint_override=endpoint.removeprefix("http://"),
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=True,
    ).create_dir(name)
    return name


class Stopwatch:
    """Seconds spent inside a few TableStore steps (wrapped for the run)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)


def build_and_query(root: Path, queries: dict[str, str], repeat: int) -> tuple[float, dict[str, float], dict[str, Any]]:
    from meshplane.storage import _iceberg as ice
    from meshplane.storage.store import TableStore
    from meshplane.workspace import Mesh

    watch = Stopwatch()
    originals = (TableStore._upload, ice.to_data_files)
    watch.wrap(TableStore, "_upload", "upload staged files (FileIO)")
    watch.wrap(ice, "to_data_files", "read footers back for the commit")
    try:
        shutil.rmtree(root / ".meshplane", ignore_errors=True)
        started = time.perf_counter()
        with Mesh.open(root) as mesh:
            result = mesh.build(jobs=2)
            if not result.ok:
                raise SystemExit("; ".join(f"{o.address}: {o.error}" for o in result.outcomes if o.error))
            build = time.perf_counter() - started
            timings: dict[str, Any] = {}
            for name, sql in queries.items():
                mesh.access.query("gina", sql)  # warm: the sandbox's child process, imports, httpfs
                walls, engine = [], []
                for _ in range(repeat):
                    begun = time.perf_counter()
                    answer = mesh.access.query("gina", sql)
                    walls.append(time.perf_counter() - begun)
                    engine.append(answer.engine_ms / 1000 if hasattr(answer, "engine_ms") else float("nan"))
                timings[name] = (statistics.median(walls), statistics.median(engine))
            mesh.access.close()
    finally:
        TableStore._upload, ice.to_data_files = originals  # type: ignore[method-assign]
    return build, watch.seconds, timings


def bench_s3(sf: float, repeat: int) -> None:
    build_helpers = _module("build")
    query_helpers = _module("query")
    data = build_helpers.generate(sf)
    queries = {q: query_helpers.mesh_sql(query_helpers.QUERIES[q]) for q in ("Q1", "Q3", "Q5")}
    with tempfile.TemporaryDirectory(prefix="mp-orgscale-") as tmp, moto_server() as endpoint:
        roots = {"local disk": Path(tmp) / "local", "S3 (loopback)": Path(tmp) / "s3"}
        for root in roots.values():
            build_helpers.tpch_mesh(root, data)
        bucket = _bucket(endpoint)
        config = roots["S3 (loopback)"] / "mesh.yaml"
        config.write_text(
            config.read_text().replace("warehouse: .meshplane/warehouse", f"warehouse: s3://{bucket}/tpch")
        )
        os.environ.update({**S3_ENV, "AWS_ENDPOINT_URL": endpoint})
        results = {name: build_and_query(root, queries, repeat) for name, root in roots.items()}
    base_build, _, base_queries = results["local disk"]
    print(f"\nTPC-H SF{sf:g} mesh: build (jobs 2, in-process) and governed queries (median of {repeat})")
    for name, (build, steps, timings) in results.items():
        print(f"  {name:<14} build {build:7.2f} s   {build / base_build:5.2f}x of local disk")
        for step, seconds in sorted(steps.items()):
            print(f"      {step:<36} {seconds:7.2f} s  ({seconds / build:5.1%} of the build)")
        for query, (wall, engine) in timings.items():
            ratio = wall / base_queries[query][0]
            inside = f"DuckDB in the sandbox {engine * 1000:8.1f} ms"
            print(f"      {query}: {wall * 1000:8.1f} ms ({ratio:4.2f}x local), {inside}")


def bench_plan_postgres(products: int, repeat: int) -> None:
    import psycopg

    build_helpers = _module("build")
    name = f"mp_bench_orgscale_{uuid.uuid4().hex[:8]}"
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="mp-orgscale-plan-") as tmp:
            root = Path(tmp) / "generated"
            build_helpers.generated_mesh(root, products)
            config = root / "mesh.yaml"
            config.write_text(
                config.read_text().replace(
                    "warehouse: .meshplane/warehouse}",
                    "warehouse: .meshplane/warehouse, catalog_url_env: BENCH_CATALOG}",
                )
            )
            env = {"BENCH_CATALOG": f"postgresql://postgres@127.0.0.1:5432/{name}"}
            argv = [*MESHPLANE, "plan", "--mesh", str(root), "--format", "json"]
            first = whole_process(argv, 1, env=env)
            following = whole_process(argv, repeat, env=env)
            print(f"\nmeshplane plan, {products:,} products, PostgreSQL catalog (whole process; target < 5 s)")
            print(f"  first run   {first}")
            print(f"  next runs   {following}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plan", type=int, default=10_000, help="products of the generated mesh for `plan`")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL `plan` measurement")
    args = parser.parse_args()
    started = header("organisation scale: warehouse on S3, plan with a PostgreSQL catalog")
    bench_s3(args.sf, args.repeat)
    if not args.no_postgres:
        bench_plan_postgres(args.plan, args.repeat)
    footer(started)


if __name__ == "__main__":
    main()
