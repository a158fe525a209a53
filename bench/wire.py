"""The PostgreSQL wire protocol: per-query overhead over the Python API, streaming throughput against
PostgreSQL itself, and many concurrent connections.

The wire server runs in a process of its own (as under ``meshplane serve --pg``) over the governed gateway
(its isolated query processes and masks included) with an in-memory resolver over one generated Parquet
port of N rows x 5 columns (integer, text, decimal, timestamp, boolean). Three measurements, one run:

1. per-query overhead: the same small query through ``QueryGateway.run`` (Python API) and through psycopg
   over the wire, interleaved; median milliseconds and the difference;
2. streaming: ``SELECT *`` of the N rows read by psycopg over the wire, side by side with psycopg reading the
   same rows from the local PostgreSQL server (127.0.0.1:5432, database test: a scratch table created and
   dropped);
3. browsing: SQLAlchemy's inspector reflecting the port (schemas, tables, columns, key, indexes: the catalog
   queries a BI tool or an ORM sends) over the wire, side by side with the same reflection of the scratch table
   from PostgreSQL; median seconds per reflection, each by a new engine (nothing cached on the client);
4. concurrency: C connections each running small queries for S seconds; queries answered and errors.

    .venv/bin/python bench/wire.py [--rows 1000000] [--repeat 3] [--connections 100] [--seconds 60]
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import sqlalchemy as sa
from _common import DATA, footer, header

from meshplane.access import PortColumn, QueryGateway, ReadablePort
from meshplane.catalog.tokens import scram_verifier
from meshplane.engines.duckdb_sandbox import SandboxLimits
from meshplane.errors import AccessDenied
from meshplane.sql import PortRef
from meshplane.types import Principal
from meshplane.wire import WireConfig, running
from meshplane.workspace.access import PortSchema

ADDRESS = "bench.events.events"
USER = Principal("analyst", frozenset({"analysts"}))
TOKEN = "bench-" + "wire-token"  # the same in the server process (spawned: module state is not shared)
COLUMNS = (PortColumn("id", "BIGINT"), PortColumn("name", "VARCHAR"), PortColumn("amount", "DECIMAL(12,2)"),
           PortColumn("at", "TIMESTAMP"), PortColumn("flag", "BOOLEAN"))  # fmt: skip
SELECT = f"SELECT id, name, amount, at, flag FROM {ADDRESS}"
SMALL = f"SELECT count(*) AS n, sum(amount) AS total FROM {ADDRESS} WHERE id < 100"
ROWS_SQL = (
    "SELECT range AS id, 'name-' || (range % 1000) AS name, CAST(range % 100000 AS DECIMAL(12,2)) / 100 AS amount,"
    " TIMESTAMP '2024-01-01' + INTERVAL (range) SECOND AS at, range % 3 = 0 AS flag FROM range({rows})"
)


def generate(rows: int) -> Path:
    path = DATA / f"wire-{rows}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        duckdb.sql(f"COPY ({ROWS_SQL.format(rows=rows)}) TO '{path}' (FORMAT parquet)")
    return path


class Backend:
    def __init__(self, gateway: QueryGateway, path: Path) -> None:
        self.gateway, self.path = gateway, path

    def resolve(self, ref: PortRef) -> ReadablePort:
        if ref.address != ADDRESS:
            raise AccessDenied(f"{ref.address} is not readable")
        return ReadablePort(ADDRESS, "1.0.0", (str(self.path),), COLUMNS)

    def authenticate(self, user: str, password: str) -> bool:
        return user == USER.username and password == TOKEN

    def scram_verifiers(self, user: str) -> list[str]:
        return [scram_verifier(TOKEN, b"bench-wire-salt")] if user == USER.username else []

    def readable_ports(self, user: str) -> list[PortSchema]:
        schema = self.gateway.run(f"{SELECT} LIMIT 0", USER, self.resolve, consumer_key="k").table.schema
        return [PortSchema(ADDRESS, "bench events", schema, {})]

    def stream(self, user: str, sql: str) -> Any:
        return self.gateway.stream(sql, USER, self.resolve, consumer_key="k")


def _limits(rows: int) -> SandboxLimits:
    return SandboxLimits(max_rows=max(rows, 1_000_000), timeout_seconds=300, processes=4, per_user=4)


def serve(path: str, rows: int, workers: int, ports: Any, stop: Any) -> None:
    """The server process: a wire server over its own gateway until ``stop`` is set."""
    gateway = QueryGateway(limits=_limits(rows))
    with running(Backend(gateway, Path(path)), WireConfig(port=0, workers=workers)) as server:
        ports.put(server.port)
        stop.wait()
    gateway.close()


def reflect(url: sa.URL, schema: str, table: str) -> None:
    """What SQLAlchemy's inspector asks to describe one table, as an ORM or a BI tool does on connecting."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        assert schema in inspector.get_schema_names() and table in inspector.get_table_names(schema=schema)
        assert len(inspector.get_columns(table, schema=schema)) == len(COLUMNS)
        inspector.get_pk_constraint(table, schema=schema)
        inspector.get_indexes(table, schema=schema)
    finally:
        engine.dispose()


def timed(work: Any) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queries", type=int, default=50, help="small queries per contender (overhead)")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    started = header(f"PostgreSQL wire protocol: {args.rows} rows x 5 columns")
    path = generate(args.rows)
    gateway = QueryGateway(limits=_limits(args.rows))
    backend = Backend(gateway, path)
    context = multiprocessing.get_context("spawn")
    ports, halt = context.Queue(), context.Event()
    server = context.Process(target=serve, args=(str(path), args.rows, max(32, args.connections + 8), ports, halt))
    server.start()
    try:
        port = ports.get(timeout=120)
        dsn = f"host=127.0.0.1 port={port} user={USER.username} password={TOKEN} dbname=bench sslmode=disable"

        # 1. per-query overhead, interleaved
        api, wire = [], []
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(args.queries):
                api.append(timed(lambda: gateway.run(SMALL, USER, backend.resolve, consumer_key="k")))
                wire.append(timed(lambda: conn.execute(SMALL).fetchall()))
        a, w = statistics.median(api) * 1000, statistics.median(wire) * 1000
        print(f"small query, Python API (QueryGateway.run)   median {a:8.2f} ms")
        print(
            f"small query, psycopg over the wire protocol  median {w:8.2f} ms   overhead {w - a:+.2f} ms ({w / a:.2f}x)"
        )

        # 2. streaming the whole port, side by side with PostgreSQL
        table = f"wire_bench_{secrets.token_hex(4)}"  # a scratch table of its own in the test database
        pg_dsn = "host=127.0.0.1 port=5432 user=postgres dbname=test"
        with psycopg.connect(pg_dsn, autocommit=True) as pg:
            pg.execute(f"CREATE TABLE {table} (id bigint, name text, amount numeric(12,2), at timestamp, flag boolean)")
        try:
            with psycopg.connect(pg_dsn, autocommit=True) as pg:
                reader = duckdb.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_reader(100_000)
                with pg.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                    for batch in reader:
                        for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                            copy.write_row(row)
                pg.execute(f"VACUUM ANALYZE {table}")
            wire_url = sa.URL.create("postgresql+psycopg", username=USER.username, password=TOKEN, host="127.0.0.1",
                                     port=port, database="bench", query={"sslmode": "disable"})  # fmt: skip
            pg_url = sa.URL.create("postgresql+psycopg", username="postgres", host="127.0.0.1", port=5432,
                                   database="test")  # fmt: skip
            wire_reflect, pg_reflect = [], []
            for _ in range(args.repeat):
                wire_reflect.append(timed(lambda: reflect(wire_url, "bench", "events")))
                pg_reflect.append(timed(lambda: reflect(pg_url, "public", table)))
            wire_times, pg_times = [], []
            for _ in range(args.repeat):
                with psycopg.connect(dsn, autocommit=True) as conn:
                    wire_times.append(timed(lambda conn=conn: conn.execute(SELECT).fetchall()))
                with psycopg.connect(pg_dsn, autocommit=True) as pg:
                    pg_times.append(
                        timed(lambda pg=pg: pg.execute(f"SELECT id, name, amount, at, flag FROM {table}").fetchall())
                    )
        finally:
            with psycopg.connect(pg_dsn, autocommit=True) as pg:
                pg.execute(f"DROP TABLE IF EXISTS {table}")
        mw, mp = statistics.median(wire_times), statistics.median(pg_times)
        for who, seconds in (("meshplane (wire)", mw), ("PostgreSQL      ", mp)):
            rate = args.rows / seconds
            print(f"stream {args.rows} rows, psycopg from {who}  median {seconds:7.2f} s  {rate:12,.0f} rows/s")
        print(f"meshplane / PostgreSQL: {mw / mp:.2f}x (target: within 2x)")
        rw, rp = statistics.median(wire_reflect), statistics.median(pg_reflect)
        reflecting = "reflect the table (SQLAlchemy inspector),"
        print(f"{reflecting} meshplane (wire)  median {rw * 1000:8.1f} ms")
        print(f"{reflecting} PostgreSQL        median {rp * 1000:8.1f} ms   {rw / rp:.2f}x")

        # 4. concurrency
        counts, errors = [0] * args.connections, [0] * args.connections
        messages: list[str] = []
        stop = time.monotonic() + args.seconds

        def client(index: int) -> None:
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    while time.monotonic() < stop:
                        try:
                            conn.execute(SMALL).fetchall()
                            counts[index] += 1
                        except psycopg.Error as error:
                            errors[index] += 1
                            messages.append(str(error))
            except psycopg.Error as error:
                errors[index] += 1
                messages.append(str(error))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(
            f"{args.connections} concurrent connections for {args.seconds:g} s: {sum(counts)} queries answered "
            f"({sum(counts) / args.seconds:.1f}/s), {sum(errors)} errors"
        )
        for message in sorted(set(messages))[:5]:
            print(f"  error: {message}")
    finally:
        halt.set()
        server.join(timeout=60)
    gateway.close()
    footer(started)


if __name__ == "__main__":
    main()
