"""TPC-H Q1, Q3, Q5 and Q10 at SF1: through the governed query gateway vs plain DuckDB, side by side.

The gateway runs as a consumer with masks on the customer's PII (c_name hashed, c_address redacted,
c_phone partial), each query in a fresh locked-down DuckDB database. Plain DuckDB runs the same sqlglot
trees with every port replaced by ``read_parquet('<file>')``, once on one long-lived connection (warm) and
once on a fresh connection per query. Data: bench/.data/tpch-sf1/*.parquet, generated on first run with
the tpch extension from the ``duckdb-extension-tpch`` wheel (git-ignored).

Two tables, one run:

1. the bare gateway (``QueryGateway.run`` with an in-memory resolver) over the generated Parquet files;
2. the full facade, ``meshplane.connect(mesh, as_user=...).sql(...)``, on a TPC-H mesh built with
   bench/build.py's layout under bench/.data/tpch-mesh-sf<N>/ (built once, reused): principal lookup,
   grant and ownership decisions from the catalog, governance, snapshot resolution, the sandbox, and the
   query log and audit writes. The customer port is ``restricted`` (the consumer holds a grant) and its
   contract masks c_name (hash), c_address (redact) and c_phone (partial). Plain DuckDB reads the same
   snapshot files. ``overhead`` is the wall time minus the time DuckDB spent running the query.

    .venv/bin/python bench/query.py [--repeat 5] [--sf 1] [--skip-facade]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import duckdb
from _common import DATA, footer, header
from sqlglot import exp

from meshplane.access import MaskKind, PortColumn, QueryGateway, ReadablePort
from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.errors import AccessDenied
from meshplane.sql import PortRef, parse_query, render
from meshplane.types import Principal
from meshplane.workspace.edges import agree_declared_as_owners

TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
MASKS = {"c_name": MaskKind.HASH, "c_address": MaskKind.REDACT, "c_phone": MaskKind.PARTIAL}

QUERIES = {
    "Q1": """
SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, avg(l_quantity) AS avg_qty,
       avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, count(*) AS count_order
FROM tpch.lineitem.lineitem
WHERE l_shipdate <= CAST('1998-09-02' AS date)
GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus""",
    "Q3": """
SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority
FROM tpch.customer.customer, tpch.orders.orders, tpch.lineitem.lineitem
WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey
  AND o_orderdate < CAST('1995-03-15' AS date) AND l_shipdate > CAST('1995-03-15' AS date)
GROUP BY l_orderkey, o_orderdate, o_shippriority ORDER BY revenue DESC, o_orderdate LIMIT 10""",
    "Q5": """
SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM tpch.customer.customer, tpch.orders.orders, tpch.lineitem.lineitem, tpch.supplier.supplier,
     tpch.nation.nation, tpch.region.region
WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
  AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
  AND r_name = 'ASIA' AND o_orderdate >= CAST('1994-01-01' AS date) AND o_orderdate < CAST('1995-01-01' AS date)
GROUP BY n_name ORDER BY revenue DESC""",
    "Q10": """
SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue, c_acctbal, n_name, c_address,
       c_phone, c_comment
FROM tpch.customer.customer, tpch.orders.orders, tpch.lineitem.lineitem, tpch.nation.nation
WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate >= CAST('1993-10-01' AS date)
  AND o_orderdate < CAST('1994-01-01' AS date) AND l_returnflag = 'R' AND c_nationkey = n_nationkey
GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
ORDER BY revenue DESC LIMIT 20""",
}


def ensure_data(directory: Path, scale: float) -> dict[str, Path]:
    """The TPC-H Parquet files bench/build.py generates (and caches) for ``scale``."""
    folder = _build_helpers().generate(scale)
    return {name: folder / f"{name}.parquet" for name in TABLES}


def make_resolver(files: dict[str, Path]) -> Any:
    probe = duckdb.connect()
    ports: dict[str, ReadablePort] = {}
    for name, path in files.items():
        relation = probe.read_parquet(str(path))
        columns = tuple(PortColumn(col, str(kind)) for col, kind in zip(relation.columns, relation.types, strict=True))
        ports[f"tpch.{name}.{name}"] = ReadablePort(
            address=f"tpch.{name}.{name}",
            version="1.0.0",
            files=(str(path),),
            columns=columns,
            masks={k: v for k, v in MASKS.items() if name == "customer"},
            snapshot_id=1,
        )
    probe.close()

    def resolve(ref: PortRef) -> ReadablePort:
        if ref.address not in ports:
            raise AccessDenied(f"{ref.address} is not readable")
        return ports[ref.address]

    return resolve


def plain_sql(sql: str, files: dict[str, Path]) -> str:
    tree = parse_query(sql)
    for table in list(tree.find_all(exp.Table)):
        name = table.name
        scan = exp.Table(
            this=exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(str(files[name]))]),
            alias=exp.TableAlias(this=exp.to_identifier(name)),
        )
        table.replace(scan)
    return render(tree)


MESH_DOMAINS = {
    "customer": "customers",
    "nation": "customers",
    "region": "customers",
    "orders": "sales",
    "lineitem": "sales",
    "part": "supply",
    "supplier": "supply",
    "partsupp": "supply",
}
CONSUMER = "bench-consumer"
CUSTOMER_PORT = "customers.customer.customer"


def _build_helpers() -> Any:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("meshplane_bench_build", Path(__file__).parent / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def ensure_mesh(scale: float) -> Path:
    """The TPC-H mesh (bench/build.py's layout) with customer PII masked and the port restricted; built once."""
    from meshplane.workspace import Mesh

    root = DATA / f"tpch-mesh-sf{scale:g}"
    ready = root / ".meshplane" / "bench-ready"
    if ready.is_file():
        return root
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    build = _build_helpers()
    data = build.generate(scale)
    build.tpch_mesh(root, data)
    mesh_yaml = root / "mesh.yaml"
    mesh_yaml.write_text(
        mesh_yaml.read_text().replace(
            "  - name: governance-guild",
            f"  - name: analytics\n    members: [{{username: {CONSUMER}, role: analyst}}]\n  - name: governance-guild",
        )
    )
    masks = {"c_name": "hash", "c_address": "redact", "c_phone": "partial"}
    contract = root / "domains" / "customers" / "customer" / "customer.odcs.yaml"
    text = contract.read_text()
    for column, kind in masks.items():
        text = text.replace(
            f"{{name: {column}, logicalType: string}}",
            f"{{name: {column}, logicalType: string, classification: pii, "
            f"customProperties: [{{property: mask, value: {kind}}}]}}",
        )
    # bench/build.py already classifies, masks and retains the PII columns; add only what it lacks
    retention = "" if "property: retention" in text else "customProperties: [{property: retention, value: P400D}]\n"
    contract.write_text(
        text + retention + "roles: [{role: customer_reader, access: read, firstLevelApprovers: customers-team}]\n"
    )
    supplier = root / "domains" / "supply" / "supplier" / "supplier.odcs.yaml"
    text = supplier.read_text()
    for column in ("s_address", "s_phone"):  # the standard policy pack wants them classified
        text = text.replace(
            f"{{name: {column}, logicalType: string}}",
            f"{{name: {column}, logicalType: string, classification: pii, "
            "customProperties: [{property: mask, value: redact}]}",
        )
    supplier.write_text(text if "property: retention" in text else text + retention)
    product = root / "domains" / "customers" / "customer" / "product.odps.yaml"
    product.write_text(
        product.read_text().replace(
            f"contractId: {CUSTOMER_PORT}}}",
            f"contractId: {CUSTOMER_PORT}, customProperties: [{{property: accessLevel, value: restricted}}]}}",
        )
    )
    started = time.perf_counter()
    with Mesh.open(root) as mesh:
        # the restricted customer port is read by the sales domain's build: an agreement, as its owners would
        agree_declared_as_owners(mesh.graph, mesh.access, default_purpose="TPC-H revenue by nation")
        result = mesh.build(jobs=2)
        if not result.ok:
            raise SystemExit("; ".join(f"{o.address}: {o.error}" for o in result.outcomes if o.error))
        request = mesh.access.request_access(CONSUMER, CUSTOMER_PORT, "TPC-H benchmark")
        mesh.access.approve("u_customers", request.id)
        mesh.access.close()
    ready.write_text("ok\n")
    print(f"built the TPC-H mesh at SF{scale:g} in {time.perf_counter() - started:.1f} s -> {root}")
    return root


def mesh_sql(sql: str) -> str:
    for table, domain in MESH_DOMAINS.items():
        sql = sql.replace(f"tpch.{table}.{table}", f"{domain}.{table}.{table}")
    return sql


def mesh_plain_sql(sql: str, mesh: Any) -> str:
    """The query over the mesh's current snapshot files, for plain DuckDB."""
    from meshplane.storage import TableId

    tree = parse_query(sql)
    for table in list(tree.find_all(exp.Table)):
        name = table.name
        info = mesh.platform.tables.snapshot(TableId.for_port(MESH_DOMAINS[name], name, name, 1))
        files = exp.Array(expressions=[exp.Literal.string(str(path)) for path in info.data_files])
        scan = exp.Table(
            this=exp.Anonymous(this="read_parquet", expressions=[files]),
            alias=exp.TableAlias(this=exp.to_identifier(name)),
        )
        table.replace(scan)
    return render(tree)


def bench_facade(scale: float, repeat: int) -> None:
    import meshplane
    from meshplane.workspace import Mesh

    root = ensure_mesh(scale)
    warm = duckdb.connect(config={"threads": 2})
    with Mesh.open(root) as mesh:
        plains = {name: mesh_plain_sql(mesh_sql(sql), mesh) for name, sql in QUERIES.items()}
    connection = meshplane.connect(root, as_user=CONSUMER)
    print(
        f"\nfull facade meshplane.connect(mesh, as_user={CONSUMER!r}).sql(...) vs plain DuckDB on the mesh's "
        f"snapshot files; medians of {repeat} (interleaved)"
    )
    print(
        f"{'query':6}{'plain warm':>12}{'plain fresh':>13}{'facade':>10}{'overhead':>10}{'fc/warm':>9}{'fc/fresh':>10}"
    )
    for name, sql in QUERIES.items():
        plain, governed = plains[name], mesh_sql(sql)
        warm.execute(plain).to_arrow_table()
        connection.sql(governed)
        times: dict[str, list[float]] = {"warm": [], "fresh": [], "facade": [], "overhead": []}
        for _ in range(repeat):
            times["warm"].append(timed(lambda p=plain: warm.execute(p).to_arrow_table()))

            def fresh(p: str = plain) -> None:
                con = duckdb.connect(config={"threads": 2})
                con.execute(p).to_arrow_table()
                con.close()

            times["fresh"].append(timed(fresh))
            start = time.perf_counter()
            result = connection.sql(governed)
            wall = time.perf_counter() - start
            times["facade"].append(wall)
            times["overhead"].append(wall - result.engine_ms / 1000)
            time.sleep(0.02)
        m = {key: statistics.median(values) for key, values in times.items()}
        print(
            f"{name:6}{m['warm']:>11.3f}s{m['fresh']:>12.3f}s{m['facade']:>9.3f}s"
            f"{m['overhead'] * 1000:>8.1f}ms{m['facade'] / m['warm']:>8.2f}x{m['facade'] / m['fresh']:>9.2f}x"
        )
    small_query(lambda: connection.sql(mesh_sql(SMALL)), connection._service.gateway, "full facade")
    connection.close()
    warm.close()


SMALL = "SELECT n_name, count(*) AS n FROM tpch.nation.nation GROUP BY n_name"
"""A query DuckDB answers in well under a millisecond: what it costs is the platform's own work."""


def small_query(run: Any, gateway: QueryGateway, what: str, count: int = 200) -> None:
    """Median wall time of ``SMALL`` and the CPU per query of this process and of the query's worker process
    (CPU does not grow with the machine's load, wall time does)."""
    import os

    def worker_cpu() -> float:
        total = 0.0
        for child in list(gateway.sandbox.pool._idle):  # the bench reads the pool's idle children
            with open(f"/proc/{child.process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    for _ in range(20):
        run()
    walls: list[float] = []
    worker_before, cpu_before = worker_cpu(), time.process_time()
    for _ in range(count):
        walls.append(timed(run))
    cpu, worker = time.process_time() - cpu_before, worker_cpu() - worker_before
    print(
        f"small query ({what}, {count} runs): median {statistics.median(walls) * 1000:.2f} ms wall; CPU per query "
        f"{cpu / count * 1000:.2f} ms here + {worker / count * 1000:.2f} ms in the worker process"
    )


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--skip-facade", action="store_true")
    parser.add_argument("--skip-gateway", action="store_true")
    args = parser.parse_args()
    if not args.skip_facade:
        ensure_mesh(args.sf)
    files = ensure_data(DATA / f"tpch-sf{args.sf:g}", args.sf)
    resolve = make_resolver(files)
    gateway = QueryGateway(limits=SandboxLimits(memory_limit="8GB", threads=2, timeout_seconds=120, max_rows=1_000_000))
    consumer = Principal("bench-consumer", frozenset({"analytics"}))
    warm = duckdb.connect(config={"threads": 2})
    if args.skip_gateway:
        gateway.close()
        warm.close()
        bench_facade(args.sf, args.repeat)
        return
    print(f"TPC-H SF{args.sf:g}, {args.repeat} runs each, medians (interleaved); 2 threads everywhere")
    print(
        f"{'query':6}{'plain warm':>12}{'plain fresh':>13}{'gateway':>10}{'overhead':>10}{'gw/warm':>9}{'gw/fresh':>10}"
    )
    for name, sql in QUERIES.items():
        plain = plain_sql(sql, files)
        warm.execute(plain).to_arrow_table()  # warm the OS page cache and the connection
        gateway.run(sql, consumer, resolve, consumer_key="bench-key")
        times: dict[str, list[float]] = {"warm": [], "fresh": [], "gateway": [], "overhead": []}
        for _ in range(args.repeat):
            times["warm"].append(timed(lambda p=plain: warm.execute(p).to_arrow_table()))

            def fresh(p: str = plain) -> None:
                connection = duckdb.connect(config={"threads": 2})
                connection.execute(p).to_arrow_table()
                connection.close()

            times["fresh"].append(timed(fresh))
            start = time.perf_counter()
            result = gateway.run(sql, consumer, resolve, consumer_key="bench-key")
            times["gateway"].append(time.perf_counter() - start)
            times["overhead"].append(result.overhead_ms / 1000)
            time.sleep(0.02)  # let the sandbox prepare its next database, as between real queries
        m = {key: statistics.median(values) for key, values in times.items()}
        print(
            f"{name:6}{m['warm']:>11.3f}s{m['fresh']:>12.3f}s{m['gateway']:>9.3f}s"
            f"{m['overhead'] * 1000:>8.1f}ms{m['gateway'] / m['warm']:>8.2f}x{m['gateway'] / m['fresh']:>9.2f}x"
        )
    small_query(lambda: gateway.run(SMALL, consumer, resolve, consumer_key="bench-key"), gateway, "gateway")
    gateway.close()
    warm.close()
    if not args.skip_facade:
        bench_facade(args.sf, args.repeat)


if __name__ == "__main__":
    _started = header("query: TPC-H through the governed gateway and the full facade vs plain DuckDB")
    main()
    footer(_started)
