"""Contract checks on TPC-H SF1 lineitem: meshplane vs datacontract-cli vs one hand-written DuckDB query.

    .venv/bin/python bench/contracts.py [--repeat 3] [--sf 1]

Each contender runs as a whole process; wall time and peak RSS come from ``os.wait4``. The data is
generated once with the tpch extension wheel into ``bench/.data/sf<N>/lineitem.parquet`` (git-ignored,
shared with other benchmarks). datacontract-cli lives in its own venv, ``bench/.venv-datacontract``
(created on first use: ``python -m venv`` + ``pip install datacontract-cli[duckdb]==1.2.8``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import DATA, footer, header

HERE = Path(__file__).resolve().parent
DC_VENV = HERE / ".venv-datacontract"
DC_BIN = DC_VENV / "bin" / "datacontract"

COLUMNS = [
    ("l_orderkey", "integer", "BIGINT"),
    ("l_partkey", "integer", "BIGINT"),
    ("l_suppkey", "integer", "BIGINT"),
    ("l_linenumber", "integer", "BIGINT"),
    ("l_quantity", "number", "DECIMAL(15,2)"),
    ("l_extendedprice", "number", "DECIMAL(15,2)"),
    ("l_discount", "number", "DECIMAL(15,2)"),
    ("l_tax", "number", "DECIMAL(15,2)"),
    ("l_returnflag", "string", "VARCHAR"),
    ("l_linestatus", "string", "VARCHAR"),
    ("l_shipdate", "date", "DATE"),
    ("l_commitdate", "date", "DATE"),
    ("l_receiptdate", "date", "DATE"),
    ("l_shipinstruct", "string", "VARCHAR"),
    ("l_shipmode", "string", "VARCHAR"),
    ("l_comment", "string", "VARCHAR"),
]
RANGES = {"l_quantity": (1, 50), "l_discount": (0, 0.1), "l_tax": (0, 0.08)}
VALID = {
    "l_returnflag": ["A", "N", "R"],
    "l_linestatus": ["F", "O"],
    "l_shipmode": ["AIR", "FOB", "MAIL", "RAIL", "REG AIR", "SHIP", "TRUCK"],
}
SQL_RULE = "SELECT COUNT(*) FROM {object} WHERE l_receiptdate < l_shipdate"


def data_file(sf: float) -> Path:
    """Generate lineitem once (another process may be doing the same: write aside, then rename)."""
    target = DATA / f"sf{sf:g}" / "lineitem.parquet"
    if target.exists():
        return target
    import duckdb
    import duckdb_extension_tpch

    target.parent.mkdir(parents=True, exist_ok=True)
    ext = Path(duckdb_extension_tpch.__file__).parent / "extensions" / "v1.5.5" / "tpch.duckdb_extension"
    con = duckdb.connect()
    con.execute(f"LOAD '{ext}'")
    con.execute(f"CALL dbgen(sf={sf})")
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    con.execute(f"COPY lineitem TO '{tmp}' (FORMAT parquet)")
    if target.exists():
        tmp.unlink()
    else:
        os.replace(tmp, target)
    return target


def contract(parquet: Path) -> dict[str, Any]:
    """ODCS v3.1: every column required, key pair, 3 ranges, 3 valid-value sets, row count, one sql rule."""
    props: list[dict[str, Any]] = []
    for name, logical, physical in COLUMNS:
        prop: dict[str, Any] = {"name": name, "logicalType": logical, "physicalType": physical, "required": True}
        if name in ("l_orderkey", "l_linenumber"):
            prop.update(primaryKey=True, primaryKeyPosition=1 if name == "l_orderkey" else 2)
        if name in RANGES:
            low, high = RANGES[name]
            prop["logicalTypeOptions"] = {"minimum": low, "maximum": high}
        if name in VALID:
            prop["quality"] = [{"metric": "invalidValues", "arguments": {"validValues": VALID[name]}, "mustBe": 0}]
        props.append(prop)
    return {
        "apiVersion": "v3.1.0",
        "kind": "DataContract",
        "id": "tpch.lineitem.lineitem",
        "name": "lineitem",
        "version": "1.0.0",
        "status": "active",
        "servers": [{"server": "local", "type": "local", "path": str(parquet), "format": "parquet"}],
        "schema": [
            {
                "name": "lineitem",
                "physicalType": "table",
                "properties": props,
                "quality": [
                    {"metric": "rowCount", "mustBeGreaterThan": 0},
                    {"type": "sql", "query": SQL_RULE, "mustBe": 0, "name": "received_after_shipped"},
                ],
            }
        ],
    }


def hand_written_sql(parquet: Path) -> str:
    """The same checks as one scan, written by hand (the limit)."""
    parts = ["COUNT(*) AS row_count"]
    parts += [f"COUNT(*) FILTER (WHERE {c} IS NULL) AS {c}_nulls" for c, _, _ in COLUMNS]
    parts.append("COUNT(*) - COUNT(DISTINCT (l_orderkey, l_linenumber)) AS key_duplicates")
    parts += [f"COUNT(*) FILTER (WHERE {c} < {lo} OR {c} > {hi}) AS {c}_out_of_range" for c, (lo, hi) in RANGES.items()]
    parts += [
        f"COUNT(*) FILTER (WHERE {c} NOT IN ({', '.join(repr(v) for v in vs)})) AS {c}_invalid"
        for c, vs in VALID.items()
    ]
    parts.append("COUNT(*) FILTER (WHERE l_receiptdate < l_shipdate) AS received_before_shipped")
    return f"SELECT {', '.join(parts)} FROM read_parquet('{parquet}')"


# -- the contenders, each run in a fresh process ---------------------------------------------------
def run_meshplane(contract_path: Path, parquet: Path) -> int:
    import duckdb

    from meshplane.contracts.interop import import_contract
    from meshplane.contracts.plan import compile_plan
    from meshplane.contracts.runner import run_checks

    con = duckdb.connect()
    con.execute(f"CREATE VIEW lineitem AS SELECT * FROM read_parquet('{parquet}')")
    plan = compile_plan(import_contract(contract_path))
    results = run_checks(plan, "lineitem", lambda sql: con.execute(sql).to_arrow_table())
    failed = [r.message for r in results if not r.passed]
    print(json.dumps({"checks": len(results), "failed": failed}))
    return 1 if failed else 0


def run_hand_written(parquet: Path) -> int:
    import duckdb

    row = duckdb.connect().execute(hand_written_sql(parquet)).fetchone()
    assert row is not None
    bad = sum(row[1:])
    print(json.dumps({"row_count": row[0], "violations": bad}))
    return 1 if bad else 0


# -- the harness -----------------------------------------------------------------------------------
def measure(cmd: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS in MB, exit code and stdout of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, proc.returncode, out


def ensure_datacontract() -> bool:
    if DC_BIN.exists():
        return True
    subprocess.run([sys.executable, "-m", "venv", str(DC_VENV)], check=True)
    done = subprocess.run([str(DC_VENV / "bin" / "pip"), "install", "-q", "datacontract-cli[duckdb]==1.2.8"])
    return done.returncode == 0 and DC_BIN.exists()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--run", choices=["meshplane", "hand"], help=argparse.SUPPRESS)
    parser.add_argument("--contract", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-datacontract", action="store_true", help="leave datacontract-cli out")
    args = parser.parse_args()
    parquet = data_file(args.sf)
    if args.run == "meshplane":
        return run_meshplane(args.contract, parquet)
    if args.run == "hand":
        return run_hand_written(parquet)
    started = header("contracts: checks on lineitem, meshplane vs one hand-written query vs datacontract-cli")

    from ruamel.yaml import YAML

    contract_path = parquet.parent / "lineitem.odcs.yaml"
    with contract_path.open("w") as handle:
        YAML(typ="safe", pure=True).dump(contract(parquet), handle)
    me = [sys.executable, str(Path(__file__).resolve()), "--sf", f"{args.sf:g}"]
    contenders = {
        "hand-written duckdb": [*me, "--run", "hand"],
        "meshplane": [*me, "--run", "meshplane", "--contract", str(contract_path)],
    }
    if args.no_datacontract:
        pass
    elif ensure_datacontract():
        contenders["datacontract-cli 1.2.8"] = [str(DC_BIN), "test", str(contract_path)]
    else:
        print("datacontract-cli could not be installed; skipping it", file=sys.stderr)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(args.repeat):  # interleaved, so drift on a noisy machine hits every contender
        for name, cmd in contenders.items():
            seconds, mb, code, out = measure(cmd)
            if code != 0:
                print(f"{name} exited {code}:\n{out[-2000:]}", file=sys.stderr)
            samples[name].append((seconds, mb))
    rows = {n: (statistics.median(s for s, _ in v), statistics.median(m for _, m in v)) for n, v in samples.items()}
    base_s, base_mb = rows["hand-written duckdb"]
    print(
        f"lineitem SF{args.sf:g}, {len(COLUMNS)} not-null + key pair + 3 ranges + 3 valid-value sets + "
        f"row count + 1 sql rule; median of {args.repeat} whole processes"
    )
    print(f"{'contender':26} {'wall s':>8} {'peak MB':>9} {'time x':>7} {'mem x':>7}")
    for name, (seconds, mb) in rows.items():
        print(f"{name:26} {seconds:8.2f} {mb:9.0f} {seconds / base_s:7.2f} {mb / base_mb:7.2f}")
    mp_s, mp_mb = rows["meshplane"]
    print(
        f"meshplane / hand-written: time {mp_s / base_s:.2f}x (target <= 1.3), "
        f"peak memory {mp_mb / base_mb:.2f}x (target <= 1.5)"
    )
    if "datacontract-cli 1.2.8" in rows:
        dc_s, dc_mb = rows["datacontract-cli 1.2.8"]
        print(f"datacontract-cli / meshplane: time {dc_s / mp_s:.2f}x, peak memory {dc_mb / mp_mb:.2f}x")
    footer(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
