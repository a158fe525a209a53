"""Build benchmark: TPC-H as a mesh vs plain DuckDB, and per-product overhead on generated meshes.

    .venv/bin/python bench/build.py [--sf 1] [--tiny 1000] [--plan 1000 10000] [--skip-tpch]

1. TPC-H SF<N> (tpch extension wheel; Parquet cached in bench/.data/sf<N>/, existing files reused) laid out as
   a mesh: sales (orders, lineitem), customers (customer, nation, region), supply (part, supplier, partsupp)
   with file sources, plus sales.revenue_by_nation and customers.top_customers. Side by side in one run:
   ``meshplane build`` (in-process, --jobs 2) vs the same SQL as DuckDB ``CREATE TABLE AS`` over the same
   Parquet files vs DuckDB ``COPY (...) TO parquet``.
2. A full build of a generated mesh of N tiny products (in-process; per product end to end).
3. ``meshplane plan --format json`` as a whole process on generated meshes of 1,000 and 10,000 products:
   the first run (nothing under .meshplane/ yet) and the next ones (spec files unchanged, parse cache warm).
Each figure is also printed as a ratio to its target (issue 3, item 9). The machine is noisy: compare the
ratios printed in one run; for before/after, run two checkouts side by side (PYTHONPATH=<other>/src).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TABLES = {
    "sales": ["orders", "lineitem"],
    "customers": ["customer", "nation", "region"],
    "supply": ["part", "supplier", "partsupp"],
}
DERIVED = {
    ("sales", "revenue_by_nation"): (
        {
            "lineitem": "sales.lineitem.lineitem",
            "orders": "sales.orders.orders",
            "customer": "customers.customer.customer",
            "nation": "customers.nation.nation",
            "region": "customers.region.region",
        },
        """SELECT n.n_name AS nation, r.r_name AS region, year(o.o_orderdate) AS order_year,
       sum(l.l_extendedprice * (1 - l.l_discount)) AS revenue, count(*) AS line_count
FROM lineitem l JOIN orders o ON l.l_orderkey = o.o_orderkey JOIN customer c ON o.o_custkey = c.c_custkey
JOIN nation n ON c.c_nationkey = n.n_nationkey JOIN region r ON n.n_regionkey = r.r_regionkey
GROUP BY n.n_name, r.r_name, year(o.o_orderdate)""",
        [
            ("nation", "string"),
            ("region", "string"),
            ("order_year", "integer"),
            ("revenue", "number"),
            ("line_count", "integer"),
        ],
    ),
    ("customers", "top_customers"): (
        {
            "customer": "customers.customer.customer",
            "orders": "sales.orders.orders",
            "lineitem": "sales.lineitem.lineitem",
        },
        """SELECT c.c_custkey AS custkey, c.c_name AS name, sum(l.l_extendedprice * (1 - l.l_discount)) AS revenue
FROM customer c JOIN orders o ON o.o_custkey = c.c_custkey JOIN lineitem l ON l.l_orderkey = o.o_orderkey
GROUP BY c.c_custkey, c.c_name ORDER BY revenue DESC LIMIT 1000""",
        [("custkey", "integer"), ("name", "string"), ("revenue", "number")],
    ),
}
TEAMS = """teams:
{teams}  - name: governance-guild
    members: [{{username: gina, role: lead}}]
governance_team: governance-guild
"""


def tpch_extension() -> Path:
    import duckdb_extension_tpch  # type: ignore[import-not-found, import-untyped, unused-ignore]

    return Path(duckdb_extension_tpch.__file__).parent / "extensions" / "v1.5.5" / "tpch.duckdb_extension"


def generate(sf: float) -> Path:
    """TPC-H Parquet files under bench/.data/sf<N>/ (missing ones only: existing files are reused)."""
    import duckdb

    folder = HERE / ".data" / f"sf{sf:g}"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [t for ts in TABLES.values() for t in ts if not (folder / f"{t}.parquet").is_file()]
    if missing:
        started = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"LOAD '{tpch_extension()}'")
        con.execute(f"CALL dbgen(sf={sf})")
        for table in missing:
            tmp = folder / f".{table}.parquet.tmp"
            con.execute(f"COPY {table} TO '{tmp}' (FORMAT parquet)")
            tmp.rename(folder / f"{table}.parquet")
        con.close()
        print(f"generated {', '.join(missing)} at SF{sf:g} in {time.perf_counter() - started:.1f}s")
    return folder


def _logical(duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith(("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT")):
        return "integer"
    if t.startswith(("DECIMAL", "DOUBLE", "FLOAT")):
        return "number"
    if t.startswith("DATE"):
        return "date"
    return "string"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _mesh_yaml(name: str, domains: list[str]) -> str:
    teams = "".join(f"  - name: {d}-team\n    members: [{{username: u_{d}, role: owner}}]\n" for d in domains)
    return (
        f"name: {name}\ntitle: Bench\nplatform: {{engine: duckdb, warehouse: .meshplane/warehouse}}\n"
        + TEAMS.format(teams=teams)
    )


# Customers' and suppliers' personal data, classified and masked as the standard governance pack requires.
PII = {"c_name": "hash", "c_address": "redact", "c_phone": "partial", "s_address": "redact", "s_phone": "partial"}


def _property(column: str, logical: str) -> str:
    if column in PII:
        return (
            f"      - {{name: {column}, logicalType: {logical}, classification: pii, "
            f"customProperties: [{{property: mask, value: {PII[column]}}}]}}\n"
        )
    return f"      - {{name: {column}, logicalType: {logical}}}\n"


def _product(
    root: Path, domain: str, name: str, inputs: dict[str, str], sql: str, columns: list[tuple[str, str]]
) -> None:
    base = root / "domains" / domain / name
    ins = "".join(f"  - {{name: {k}, version: ^1.0.0, contractId: {v}}}\n" for k, v in inputs.items())
    _write(
        base / "product.odps.yaml",
        f"""apiVersion: v1.0.0
kind: DataProduct
id: {domain}.{name}
name: {name}
domain: {domain}
version: 1.0.0
status: active
description: {{purpose: The {name} product of the {domain} domain.}}
team: {{name: {domain}-team}}
inputPorts:
{ins}outputPorts:
  - {{name: {name}, type: tables, version: 1.0.0, contractId: {domain}.{name}.{name}}}
""",
    )
    props = "".join(_property(c, t) for c, t in columns)
    retention = "customProperties: [{property: retention, value: P7Y}]\n" if any(c in PII for c, _ in columns) else ""
    _write(
        base / f"{name}.odcs.yaml",
        f"""apiVersion: v3.1.0
kind: DataContract
id: {domain}.{name}.{name}
name: {name}
version: 1.0.0
status: active
slaProperties: [{{property: latency, value: 1, unit: d}}, {{property: frequency, value: 1, unit: d}}]
{retention}schema:
  - name: {name}
    physicalType: table
    properties:
{props}    quality: [{{metric: rowCount, mustBeGreaterThan: 0}}]
""",
    )
    _write(base / f"{name}.sql", sql + "\n")


def _source(root: Path, domain: str, name: str, path: str, fmt: str, columns: list[tuple[str, str]]) -> None:
    props = "".join(f"      - {{name: {c}, logicalType: {t}}}\n" for c, t in columns)
    _write(
        root / "domains" / domain / "sources" / f"{name}.odcs.yaml",
        f"""apiVersion: v3.1.0
kind: DataContract
id: {domain}.sources.{name}
name: {name}
version: 1.0.0
status: active
servers: [{{server: local, type: local, path: {path}, format: {fmt}}}]
schema:
  - name: {name}
    physicalType: table
    properties:
{props}""",
    )


def tpch_mesh(root: Path, data: Path) -> dict[str, str]:
    """Write the TPC-H mesh; returns table -> the SQL each product runs (for the plain DuckDB side)."""
    import duckdb

    _write(root / "mesh.yaml", _mesh_yaml("tpch", list(TABLES)))
    (root / "data").symlink_to(data, target_is_directory=True)
    sqls: dict[str, str] = {}
    for domain, tables in TABLES.items():
        _write(root / "domains" / domain / "domain.yaml", f"name: {domain}\ntitle: {domain}\nowner: {domain}-team\n")
        for table in tables:
            described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{data / table}.parquet')").fetchall()
            columns = [(row[0], _logical(row[1])) for row in described]
            _source(root, domain, f"{table}_files", f"data/{table}.parquet", "parquet", columns)
            sql = f"SELECT * FROM {table}_files"
            _product(root, domain, table, {f"{table}_files": f"{domain}.sources.{table}_files"}, sql, columns)
            sqls[table] = sql
    for (domain, name), (inputs, sql, columns) in DERIVED.items():
        _product(root, domain, name, inputs, sql, columns)
        sqls[name] = sql
    return sqls


def plain_duckdb(data: Path, sqls: dict[str, str], mode: str, out: Path) -> float:
    """The same SQL as CREATE TABLE AS (mode=ctas) or COPY TO parquet (mode=copy), in dependency order."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    con = duckdb.connect(str(out / "plain.duckdb") if mode == "ctas" else ":memory:")
    for table in (t for ts in TABLES.values() for t in ts):
        con.execute(f"CREATE VIEW {table}_files AS SELECT * FROM read_parquet('{data / table}.parquet')")
        if mode == "ctas":
            con.execute(f"CREATE TABLE {table}_t AS {sqls[table]}")
        else:
            con.execute(f"COPY ({sqls[table]}) TO '{out / table}.parquet' (FORMAT parquet)")
    for table in (t for ts in TABLES.values() for t in ts):  # derived products read the base products
        source = f"{table}_t" if mode == "ctas" else f"read_parquet('{out / table}.parquet')"
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {source}")
    for (_, name), _spec in DERIVED.items():
        if mode == "ctas":
            con.execute(f"CREATE TABLE {name}_t AS {sqls[name]}")
        else:
            con.execute(f"COPY ({sqls[name]}) TO '{out / name}.parquet' (FORMAT parquet)")
    con.close()
    return time.perf_counter() - started


def meshplane_build(root: Path, jobs: int = 2) -> tuple[float, int]:
    from meshplane.workspace import Mesh

    shutil.rmtree(root / ".meshplane", ignore_errors=True)
    started = time.perf_counter()
    with Mesh.open(root) as mesh:
        result = mesh.build(jobs=jobs)
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit("; ".join(f"{o.address}: {o.error}" for o in result.outcomes if o.error))
    return seconds, len(result.outcomes)


def bench_tpch(sf: float, repeat: int) -> None:
    data = generate(sf)
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        root = Path(tmp) / "tpch"
        sqls = tpch_mesh(root, data)
        meshplane_build(root)  # warm the page cache and imports
        rows: dict[str, list[float]] = {
            "meshplane build": [],
            "duckdb CREATE TABLE AS": [],
            "duckdb COPY TO parquet": [],
        }
        for i in range(repeat):  # interleaved, so noise hits every contender alike
            rows["meshplane build"].append(meshplane_build(root)[0])
            rows["duckdb CREATE TABLE AS"].append(plain_duckdb(data, sqls, "ctas", Path(tmp) / f"ctas{i}"))
            rows["duckdb COPY TO parquet"].append(plain_duckdb(data, sqls, "copy", Path(tmp) / f"copy{i}"))
        base = statistics.median(rows["duckdb CREATE TABLE AS"])
        print(f"\nTPC-H SF{sf:g}: {len(sqls)} products, median of {repeat}")
        for name, times in rows.items():
            median = statistics.median(times)
            print(f"  {name:<24} {median:7.2f} s   {median / base:5.2f}x")


def generated_mesh(root: Path, products: int, per_domain: int = 100) -> None:
    """``products`` tiny products in domains of ``per_domain``, each reading its domain's one-row CSV."""
    domains = [f"d{i:03d}" for i in range((products + per_domain - 1) // per_domain)]
    _write(root / "mesh.yaml", _mesh_yaml("generated", domains))
    _write(root / "data" / "tiny.csv", "id,name\n1,one\n")
    for n in range(products):
        domain = domains[n // per_domain]
        if n % per_domain == 0:
            _write(
                root / "domains" / domain / "domain.yaml", f"name: {domain}\ntitle: {domain}\nowner: {domain}-team\n"
            )
            _source(root, domain, "tiny", "data/tiny.csv", "csv", [("id", "integer"), ("name", "string")])
        _product(
            root,
            domain,
            f"p{n:05d}",
            {"tiny": f"{domain}.sources.tiny"},
            f"SELECT id, name, {n} AS n FROM tiny",
            [("id", "integer"), ("name", "string"), ("n", "integer")],
        )


def _plan_seconds(root: Path) -> float:
    """``meshplane plan --format json`` as a whole process (imports, loading, planning, printing)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(ROOT / ".venv/bin/meshplane"), "plan", "--mesh", str(root), "--format", "json"],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr)
    return seconds


def bench_tiny(products: int) -> None:
    target = 0.030
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        root = Path(tmp) / "tiny"
        generated_mesh(root, products)
        seconds, built = meshplane_build(root, jobs=2)
        per = seconds / built
        print(
            f"\nfull build of {built:,} tiny products (jobs 2, end to end): {seconds:.1f} s, "
            f"{1000 * per:.1f} ms per product = {per / target:.2f}x the 30 ms target "
            f"(dbt run: 52-104 ms per model)"
        )
        print(f"  meshplane plan on the built mesh (whole process): {_plan_seconds(root):.2f} s")


def bench_plan(sizes: list[int]) -> None:
    for size in sizes:
        target = 1.0 if size <= 1000 else 5.0
        with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
            root = Path(tmp) / "plan"
            generated_mesh(root, size)
            cold = _plan_seconds(root)  # no .meshplane/ yet: every file parsed, catalog created
            warm = min(_plan_seconds(root) for _ in range(2))  # spec files unchanged since the last run
            print(
                f"\nmeshplane plan, {size:,} products (never built, whole process): first run {cold:.2f} s "
                f"({cold / target:.2f}x target), next runs {warm:.2f} s ({warm / target:.2f}x the "
                f"{target:g} s target)"
                + (f"; dbt parse of 1,000 models: 10.5 s ({warm / 10.5:.2f}x)" if size == 1000 else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tiny", type=int, default=1000)
    parser.add_argument("--plan", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--skip-tpch", action="store_true")
    args = parser.parse_args()
    if not args.skip_tpch:
        bench_tpch(args.sf, args.repeat)
    if args.tiny:
        bench_tiny(args.tiny)
    if args.plan:
        bench_plan(args.plan)


if __name__ == "__main__":
    main()
