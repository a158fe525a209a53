"""Build benchmark: TPC-H as a mesh vs plain DuckDB, and per-product overhead on generated meshes.

    .venv/bin/python bench/build.py [--sf 1] [--repeat 3] [--tiny 1000] [--plan 1000 10000] [--skip-tpch]
                                    [--dbt PATH | --no-dbt] [--reference [REV]]

1. TPC-H SF<N> (tpch extension wheel; Parquet cached in bench/.data/sf<N>/, existing files reused) laid out as
   a mesh: sales (orders, lineitem), customers (customer, nation, region), supply (part, supplier, partsupp)
   with file sources, plus sales.revenue_by_nation and customers.top_customers. Side by side in one run:
   ``meshplane build`` (in-process, --jobs 2) vs the same SQL as DuckDB ``CREATE TABLE AS`` over the same
   Parquet files vs DuckDB ``COPY (...) TO parquet``.
2. A full build of a generated mesh of N tiny products (in-process; per product end to end), interleaved with
   ``dbt run`` of the same N models (dbt-core 1.11 + dbt-duckdb, threads 2, whole process), then ``meshplane
   plan`` on the built mesh (whole process).
3. ``meshplane plan --format json`` as a whole process on generated meshes of 1,000 and 10,000 products:
   the first run (nothing under .meshplane/ yet) and the next ones (spec files unchanged, parse cache warm),
   interleaved with ``dbt parse --no-partial-parse`` of the same models (up to 1,000).
4. With ``--reference REV`` (off by default and in CI): the same TPC-H mesh built by a checkout of REV (a git
   worktree in a temporary folder, its own ``PYTHONPATH``, this venv, both sides byte-compiled) and by this
   tree, alternating, each build timed inside its own process (the same driver for both), with the CPU seconds
   the build used (its process and the children it runs transforms in, which a busy machine does not inflate
   as it does wall time): the ratio
   this tree / REV. REV defaults to ``8098ad4``, the last commit before the build sandbox that builds (b068f99
   landed the sandbox; its parent 3bee01a does not import). Both sides run ``Mesh.build(jobs=2)`` on a fresh
   ``.meshplane``; the reference has no agreements yet, so it reads other domains' ports raw.
Every measurement runs ``--repeat`` times and prints its median, min and max; the header and footer give the
machine, the load average before and after, and the commit. dbt comes from ``--dbt PATH`` or is installed
into ``bench/.venv-dbt`` on first use (``--no-dbt`` leaves it out). The machine is noisy: compare the ratios
printed in one run; for before/after, run two checkouts side by side (PYTHONPATH=<other>/src).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import DATA, HERE, MESHPLANE, footer, header, whole_process

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
        """SELECT c.c_custkey AS custkey, c.c_name, sum(l.l_extendedprice * (1 - l.l_discount)) AS revenue
FROM customer c JOIN orders o ON o.o_custkey = c.c_custkey JOIN lineitem l ON l.l_orderkey = o.o_orderkey
GROUP BY c.c_custkey, c.c_name ORDER BY revenue DESC LIMIT 1000""",
        # c_name stays classified pii and masked: classification flows downstream (column lineage)
        [("custkey", "integer"), ("c_name", "string"), ("revenue", "number")],
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

    folder = DATA / f"sf{sf:g}"
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
    # TPC-H's customers and suppliers have no column that dates a row, so no retention can be enforced on them:
    # the governance guild waives pii-retention for them, as a real mesh would for such a table.
    _write(
        root / "waivers.yaml",
        "waivers:\n"
        + "".join(
            f"  - {{policy: pii-retention, subject: {subject}, approver: gina, expires: 2099-12-31,\n"
            "     reason: TPC-H rows carry no date that retention could count from}\n"
            for subject in ("customers", "supply.supplier")
        ),
    )
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


REFERENCE = "8098ad4"
"""The last commit before the build sandbox (b068f99) whose build runs: its parent 3bee01a fails to import."""

# One build in a fresh process, timed inside it (imports and interpreter start are left out on both sides), with
# the wall time spent in the engine's two entry points both versions have: running transforms (stage_sql: in
# the sandbox's child processes today, in the process itself before) and the platform's own queries (contract
# checks, and today the port profile). With jobs=2 the two overlap, so their sum may exceed the build's time.
_DRIVER = """
import functools, os, resource, shutil, sys, time
from pathlib import Path
from meshplane.engines.duckdb import DuckDBEngine
from meshplane.workspace import Mesh
spent = {"stage_sql": 0.0, "query": 0.0}
def timed(name):
    method = getattr(DuckDBEngine, name)
    @functools.wraps(method)
    def inner(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - started
    setattr(DuckDBEngine, name, inner)
timed("stage_sql")
timed("query")
def cpu():  # this process, its reaped children, and its live ones (the build sandbox's pool of children)
    total = sum(sum(resource.getrusage(who)[:2]) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total
root = Path(sys.argv[1])
shutil.rmtree(root / ".meshplane", ignore_errors=True)
cpu_before = cpu()
started = time.perf_counter()
with Mesh.open(root) as mesh:
    result = mesh.build(jobs=2)
    seconds = time.perf_counter() - started
    used = cpu() - cpu_before  # before the engine closes: its children still run
if not result.ok:
    raise SystemExit("; ".join(f"{o.address}: {o.error}" for o in result.outcomes if o.error))
print(f"{seconds:.6f} {spent['stage_sql']:.6f} {spent['query']:.6f} {used:.6f} {len(result.outcomes)}")
"""


@dataclass(frozen=True)
class BuildRun:
    """One build of the TPC-H mesh in its own process."""

    seconds: float
    transforms: float
    """Wall time in ``stage_sql`` (the transforms)."""
    queries: float
    """Wall time in ``query`` (contract checks and profiles)."""
    cpu: float
    """CPU seconds of the build: its process and the children it runs transforms in (their start-up included)."""
    products: int


def build_in_process(root: Path, src: Path) -> BuildRun:
    """One build of ``root`` by the sources under ``src`` (``PYTHONPATH``), this interpreter, a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", _DRIVER, str(root)], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the build with {src} failed: {(done.stderr or done.stdout)[-2000:]}")
    seconds, transforms, queries, cpu, products = done.stdout.split()[-5:]
    return BuildRun(float(seconds), float(transforms), float(queries), float(cpu), int(products))


def bench_reference(sf: float, repeat: int, rev: str) -> None:
    """The TPC-H mesh built by a checkout of ``rev`` and by this tree, alternating; the ratio of medians."""
    from _common import ROOT

    data = generate(sf)
    with tempfile.TemporaryDirectory(prefix="mp-bench-ref-") as tmp:
        checkout = Path(tmp) / "reference"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(checkout), rev],
                       check=True, capture_output=True)  # fmt: skip
        try:
            ours_root, theirs_root = Path(tmp) / "ours" / "tpch", Path(tmp) / "theirs" / "tpch"
            tpch_mesh(ours_root, data)
            tpch_mesh(theirs_root, data)
            contenders = {"this tree": (ours_root, ROOT / "src"), f"reference {rev}": (theirs_root, checkout / "src")}
            for root, src in contenders.values():
                # Bytecode for both sides, as `make install` leaves this tree: where PYTHONDONTWRITEBYTECODE is
                # set (this environment), a side without it compiles every module in every process it starts.
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=True)
                build_in_process(root, src)  # warm the page cache
            runs: dict[str, list[BuildRun]] = {name: [] for name in contenders}
            for i in range(repeat):  # alternating, and each round starting with the other side
                order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
                for name in order:
                    runs[name].append(build_in_process(*contenders[name]))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)],
                           capture_output=True)  # fmt: skip
    print(f"\nTPC-H SF{sf:g} mesh, this tree vs {rev} (before the build sandbox), alternating, median of {repeat}")
    print(f"  {'':<24} {'build':>8} {'CPU':>8} {'transforms':>11} {'checks+profile':>15}")
    medians: dict[str, BuildRun] = {}
    for name, done in runs.items():
        fields = ("seconds", "transforms", "queries", "cpu")
        medians[name] = BuildRun(*(statistics.median([getattr(one, f) for one in done]) for f in fields),
                                 products=done[0].products)  # fmt: skip
        m = medians[name]
        spread = f"(build min {min(r.seconds for r in done):.2f}, max {max(r.seconds for r in done):.2f})"
        print(f"  {name:<24} {m.seconds:7.2f}s {m.cpu:7.2f}s {m.transforms:10.2f}s {m.queries:14.2f}s  {spread}")
    ours, theirs = medians.values()
    print(
        f"  this tree / reference    build {ours.seconds / theirs.seconds:.2f}x (target at most 1.1x), "
        f"CPU {ours.cpu / theirs.cpu:.2f}x, transforms {ours.transforms / theirs.transforms:.2f}x, "
        f"checks+profile {ours.queries - theirs.queries:+.2f} s"
    )


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


def _plan(root: Path) -> list[str]:
    """``meshplane plan --format json`` as a whole process (imports, loading, planning, printing)."""
    return [*MESHPLANE, "plan", "--mesh", str(root), "--format", "json"]


def bench_tiny(products: int, runs: int, dbt: Path | None) -> None:
    """Full builds of ``products`` generated tiny products (in-process, jobs 2), then plan on the built mesh.

    With ``dbt``: the same models as a dbt-duckdb project, ``dbt run`` (threads 2) in the same run.
    """
    target = 0.030
    with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
        root = Path(tmp) / "tiny"
        generated_mesh(root, products)
        project = dbt_project(Path(tmp) / "dbt", root / "data" / "tiny.csv", products) if dbt else None
        per: list[float] = []
        dbt_per: list[float] = []
        for _ in range(runs):  # interleaved with dbt run, so noise hits both alike
            seconds, built = meshplane_build(root, jobs=2)
            per.append(seconds / built)
            if dbt and project:
                shutil.rmtree(project / "target", ignore_errors=True)
                (project / "dbt.duckdb").unlink(missing_ok=True)
                dbt_per.append(whole_process(_dbt(dbt, project, "run"), 1, env=DBT_ENV).median / products)
        ms = [1000 * p for p in per]
        print(
            f"\nfull build of {products:,} tiny products (jobs 2, end to end, in-process), {runs} run(s): "
            f"{statistics.median(ms):.1f} ms per product (min {min(ms):.1f}, max {max(ms):.1f}) = "
            f"{statistics.median(per) / target:.2f}x the 30 ms target"
        )
        if dbt_per:
            dms = [1000 * p for p in dbt_per]
            print(
                f"  dbt run, the same {products:,} models (dbt-duckdb, threads 2, whole process): "
                f"{statistics.median(dms):.1f} ms per model (min {min(dms):.1f}, max {max(dms):.1f}); "
                f"meshplane/dbt {statistics.median(per) / statistics.median(dbt_per):.2f}x"
            )
        print(f"  meshplane plan on the built mesh (whole process): {whole_process(_plan(root), runs)}")


def bench_plan(sizes: list[int], runs: int, dbt: Path | None) -> None:
    """``meshplane plan`` on never-built generated meshes: first runs (nothing under .meshplane/, so every
    file is parsed) and next runs (parse cache warm); with ``dbt``, ``dbt parse --no-partial-parse`` of the
    same models at 1,000 or fewer products, interleaved."""
    for size in sizes:
        target = 1.0 if size <= 1000 else 5.0
        with tempfile.TemporaryDirectory(prefix="mp-bench-") as tmp:
            root = Path(tmp) / "plan"
            generated_mesh(root, size)
            project = dbt_project(Path(tmp) / "dbt", root / "data" / "tiny.csv", size) if dbt else None
            cold: list[float] = []
            warm: list[float] = []
            parse: list[float] = []
            for _ in range(runs):
                shutil.rmtree(root / ".meshplane", ignore_errors=True)
                cold += whole_process(_plan(root), 1).wall
                warm += whole_process(_plan(root), 1).wall
                if dbt and project and size <= 1000:
                    parse += whole_process(_dbt(dbt, project, "parse", "--no-partial-parse"), 1, env=DBT_ENV).wall
            print(
                f"\nmeshplane plan, {size:,} products (never built, whole process), {runs} run(s):\n"
                f"  first run {_stats(cold)} = {statistics.median(cold) / target:.2f}x the {target:g} s target\n"
                f"  next run  {_stats(warm)} = {statistics.median(warm) / target:.2f}x the {target:g} s target"
            )
            if parse:
                print(
                    f"  dbt parse --no-partial-parse of the same {size:,} models: {_stats(parse)}; "
                    f"meshplane first run / dbt parse {statistics.median(cold) / statistics.median(parse):.2f}x"
                )


def _stats(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


# dbt must not phone home (no network here, and a timeout would be timed)
DBT_ENV = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
DBT_VENV = HERE / ".venv-dbt"
DBT_REQUIREMENTS = ["dbt-core>=1.11,<1.12", "dbt-duckdb>=1.11,<1.12"]  # dbt-core 1.12 does not install offline


def ensure_dbt(explicit: str | None) -> Path | None:
    """dbt with the DuckDB adapter: ``--dbt PATH``, else ``bench/.venv-dbt`` (created on first use)."""
    if explicit:
        return Path(explicit)
    binary = DBT_VENV / "bin" / "dbt"
    if not binary.exists():
        print(f"installing {' '.join(DBT_REQUIREMENTS)} into {DBT_VENV} ...", flush=True)
        uv = Path(sys.executable).parent / "uv"  # the project's environment carries uv: much faster than pip
        if uv.exists():
            subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(DBT_VENV)], check=True)
            install = [str(uv), "pip", "install", "-q", "--python", str(DBT_VENV / "bin" / "python")]
        else:
            subprocess.run([sys.executable, "-m", "venv", str(DBT_VENV)], check=True)
            install = [str(DBT_VENV / "bin" / "pip"), "install", "-q"]
        done = subprocess.run([*install, *DBT_REQUIREMENTS])
        if done.returncode or not binary.exists():
            print("dbt could not be installed; its figures are left out", file=sys.stderr)
            return None
    return binary


def dbt_project(folder: Path, csv: Path, models: int, per_folder: int = 100) -> Path:
    """The generated mesh's products as dbt models: the same SQL over the same CSV, materialised as tables."""
    _write(
        folder / "dbt_project.yml",
        "name: generated\nversion: '1.0.0'\nprofile: generated\nmodels:\n  generated:\n    +materialized: table\n",
    )
    _write(
        folder / "profiles.yml",
        f"generated:\n  target: bench\n  outputs:\n    bench:\n      type: duckdb\n"
        f"      path: {folder / 'dbt.duckdb'}\n      threads: 2\n",
    )
    for n in range(models):
        _write(
            folder / "models" / f"d{n // per_folder:03d}" / f"p{n:05d}.sql",
            f"SELECT id, name, {n} AS n FROM read_csv_auto('{csv}')\n",
        )
    return folder


def _dbt(binary: Path, project: Path, *command: str) -> list[str]:
    return [str(binary), *command, "--project-dir", str(project), "--profiles-dir", str(project)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians, min, max)")
    parser.add_argument("--tiny", type=int, default=1000)
    parser.add_argument("--plan", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--skip-tpch", action="store_true")
    parser.add_argument("--dbt", help="dbt executable with the duckdb adapter (default: bench/.venv-dbt, created)")
    parser.add_argument("--no-dbt", action="store_true", help="leave dbt out")
    parser.add_argument(
        "--reference", nargs="?", const=REFERENCE, default=None, metavar="REV",
        help=f"also build the TPC-H mesh with a checkout of REV, alternating with this tree (default {REFERENCE})",
    )  # fmt: skip
    args = parser.parse_args()
    started = header("build: TPC-H mesh vs plain DuckDB; tiny products and plan vs dbt")
    dbt = None if args.no_dbt else ensure_dbt(args.dbt)
    if not args.skip_tpch:
        bench_tpch(args.sf, args.repeat)
    if args.reference:
        bench_reference(args.sf, args.repeat, args.reference)
    if args.tiny:
        bench_tiny(args.tiny, args.repeat, dbt)
    if args.plan:
        bench_plan(args.plan, args.repeat, dbt)
    footer(started)


if __name__ == "__main__":
    main()
