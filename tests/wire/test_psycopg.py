"""psycopg 3 and psql through the wire protocol: the same answers as ``meshplane query``, nothing more."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import psycopg
import pytest

from meshplane.catalog import QueryDecision
from meshplane.errors import QueryRejected
from wire.conftest import CONSUMER, EVENTS, OUTSIDER, OWNER, Wire

MASKED = f"SELECT event_id, country_code, listener_email, ip_address FROM {EVENTS} ORDER BY event_id LIMIT 50"


def test_wrong_token_and_plain_tcp_are_refused(wire: Wire) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wire.dsn(CONSUMER, password="not-a-token"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wire.dsn(CONSUMER, password=wire.tokens[OWNER]))  # someone else's token
    with pytest.raises(psycopg.OperationalError, match="only TLS"):
        psycopg.connect(wire.dsn(CONSUMER, sslmode="disable"))


def test_masked_and_filtered_exactly_as_meshplane_query(wire: Wire) -> None:
    expected = wire.mesh.access.query(CONSUMER, MASKED).table.to_pylist()
    with psycopg.connect(wire.dsn(CONSUMER)) as conn:
        rows = conn.execute(MASKED).fetchall()
    assert rows and [tuple(r.values()) for r in expected] == rows
    assert {r[1] for r in rows} == {"GB"}  # the grant's row filter
    raw = wire.mesh.read(EVENTS)
    raw_emails = {e for e in raw.column("listener_email").to_pylist() if e}
    assert not raw_emails & {r[2] for r in rows}  # hashed, never raw
    with psycopg.connect(wire.dsn(CONSUMER)) as conn:  # a port as it is listed: schema."product.port"
        listed = conn.execute('SELECT count(*) FROM royalties."creator_payouts.payout_lines"').fetchone()
        assert listed == conn.execute("SELECT count(*) FROM royalties.creator_payouts.payout_lines").fetchone()
    with psycopg.connect(wire.dsn(OWNER)) as conn:  # the owner team reads unmasked
        owner_rows = conn.execute(MASKED).fetchall()
    assert {r[2] for r in owner_rows} <= raw_emails


def test_refused_reads_and_the_query_log(wire: Wire) -> None:
    with psycopg.connect(wire.dsn(OUTSIDER)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="meshplane access request"):
            conn.execute(f"SELECT * FROM {EVENTS}")
        with pytest.raises(psycopg.Error, match=r"read_parquet|not allowed|table function"):
            conn.execute("SELECT * FROM read_parquet('/etc/passwd')")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE x (a int)")
    entries = wire.mesh.access.query_log(username=OUTSIDER, limit=10)
    assert any((e.decision is QueryDecision.DENIED and EVENTS in e.ports) or EVENTS in (e.error or "")
               for e in entries)  # fmt: skip


def test_browse_lists_only_readable_ports_with_comments(wire: Wire) -> None:
    listing = "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
    with psycopg.connect(wire.dsn(OUTSIDER)) as conn:
        outsider = {tuple(r) for r in conn.execute(listing)}
    with psycopg.connect(wire.dsn(CONSUMER)) as conn:
        consumer = {tuple(r) for r in conn.execute(listing)}
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_catalog.pg_namespace")}
        comment = conn.execute(
            "SELECT col_description(c.oid, a.attnum) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a"
            " ON a.attrelid = c.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'podcasts' AND c.relname = 'listening_events' AND a.attname = 'country_code'"
        ).fetchone()
        types = dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'podcasts' AND table_name = 'listening_events'").fetchall())  # fmt: skip
    assert ("podcasts", "listening_events") in consumer
    assert ("podcasts", "listening_events") not in outsider  # restricted, no grant: not even listed
    assert outsider and outsider < consumer
    assert {"podcasts", "royalties", "films"} <= schemas
    contract = wire.mesh.platform.catalog.reader.port(EVENTS)
    assert contract is not None
    described = {c.name: c.description for c in contract.columns}
    assert comment is not None and comment[0] == described["country_code"]
    assert types["listener_email"] == "character varying"  # the hash mask's type as PostgreSQL names it


def test_a_sessions_catalog_queries_reuse_one_worker_process(wire: Wire) -> None:
    """A client browsing sends dozens of catalog queries: each must not pay for a new worker process's start
    (a worker replaced after every call made each SQLAlchemy or DBeaver metadata query take seconds)."""
    pool = wire.server.catalog_workers.pool
    with psycopg.connect(wire.dsn(CONSUMER)) as conn:
        conn.execute("SELECT nspname FROM pg_catalog.pg_namespace").fetchall()  # the session's first: may start one
        started = pool.started
        for _ in range(4):
            tables = conn.execute("SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'r'").fetchall()
            assert ("listening_events",) in tables
    assert pool.started == started


def test_session_commands_and_catalog_functions(wire: Wire) -> None:
    with psycopg.connect(wire.dsn(CONSUMER), autocommit=False) as conn:
        assert conn.info.server_version >= 160000
        version = conn.execute("SELECT version()").fetchone()
        assert version is not None and version[0].startswith("PostgreSQL 16")
        conn.execute("SET application_name = 'tests'")
        assert conn.execute("SHOW application_name").fetchone() == ("tests",)
        assert conn.execute("SELECT current_schema(), current_user").fetchone() == ("public", CONSUMER)
        conn.rollback()
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_prepared_statements_and_parameters(wire: Wire) -> None:
    query = (f"SELECT event_id, seconds_listened, started_at FROM {EVENTS} WHERE seconds_listened > %s"
             " AND country_code = %s ORDER BY 1")  # fmt: skip
    expected = wire.mesh.access.query(CONSUMER, query.replace("%s", "600", 1).replace("%s", "'GB'")).table.to_pylist()
    with psycopg.connect(wire.dsn(CONSUMER)) as conn:
        for _ in range(3):  # prepared on the server after the first run (prepare=True)
            rows = conn.execute(query, (600, "GB"), prepare=True).fetchall()
            assert rows == [tuple(r.values()) for r in expected]
        with conn.cursor(binary=True) as cursor:
            cursor.execute(f"SELECT count(*), min(event_id), min(started_at) FROM {EVENTS} WHERE seconds_listened > %s",
                           (600,))  # fmt: skip
            count, low, first = cursor.fetchone() or (None, None, None)
        assert count == len(expected) and low == expected[0]["event_id"]
        assert first == min(r["started_at"] for r in expected)
        # a server-side cursor reads in pieces (Execute with a row count, PortalSuspended)
        with conn.transaction(), conn.cursor(name="pieces") as named:
            named.itersize = 7
            named.execute(f"SELECT event_id FROM {EVENTS} ORDER BY 1")
            assert len(list(named)) == wire.mesh.access.query(CONSUMER, f"SELECT * FROM {EVENTS}").rows


def test_cancel_stops_a_running_query(wire: Wire) -> None:
    """The cancel request reaches the query in its worker process while it runs (before its first row)."""
    slow = f"SELECT count(*) AS slow_cancelled FROM {EVENTS} a, {EVENTS} b, {EVENTS} c"
    with psycopg.connect(wire.dsn(OWNER)) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)  # cancel() blocks holding the GIL; the server runs here
        timer.start()
        with pytest.raises(psycopg.errors.QueryCanceled, match="due to user request") as raised:
            conn.execute(slow)
        timer.join()
        assert raised.value.sqlstate == "57014"
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the connection is usable again
        assert conn.execute(f"SELECT count(*) FROM {EVENTS}").fetchone() is not None
    entries = [e for e in wire.mesh.access.query_log(username=OWNER, limit=20) if "slow_cancelled" in e.sql]
    # stopped by the cancel, not by the time limit
    assert entries and entries[0].decision is QueryDecision.ERROR and "cancelled" in (entries[0].error or "")
    assert wire.mesh.access.gateway.sandbox.pool.running(OWNER) == 0


def test_pg_cancel_backend_cancels_the_users_own_session_only(wire: Wire) -> None:
    slow = f"SELECT count(*) FROM {EVENTS} a, {EVENTS} b, {EVENTS} c"
    with psycopg.connect(wire.dsn(OWNER)) as busy, psycopg.connect(wire.dsn(OWNER), autocommit=True) as other:
        pid = busy.info.backend_pid
        with psycopg.connect(wire.dsn(CONSUMER), autocommit=True) as stranger:
            assert stranger.execute("SELECT pg_cancel_backend(%s)", (pid,)).fetchone() == (False,)
        answers: list[object] = []

        def cancel_soon() -> None:
            time.sleep(0.5)
            answers.append(other.execute(f"SELECT pg_cancel_backend({pid})").fetchone())

        helper = threading.Thread(target=cancel_soon)
        helper.start()
        with pytest.raises(psycopg.errors.QueryCanceled, match="due to user request"):
            busy.execute(slow)
        helper.join()
        assert answers == [(True,)]


def test_disconnect_mid_result_frees_the_query(wire: Wire) -> None:
    big = f"SELECT a.event_id, b.event_id AS other FROM {EVENTS} a, {EVENTS} b"
    conn = psycopg.connect(wire.dsn(OWNER))
    with conn.cursor(name="half") as cursor:  # pragma: no branch
        conn.autocommit = False
        cursor.itersize = 1000
        cursor.execute(big)
        assert len(cursor.fetchmany(1000)) == 1000
        conn.pgconn.finish()  # the socket closes mid-result
    pool = wire.mesh.access.gateway.sandbox.pool
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entries = [e for e in wire.mesh.access.query_log(username=OWNER, limit=20) if "other" in e.sql]
        if entries and entries[0].decision is QueryDecision.ERROR and not pool.running(OWNER):
            break
        time.sleep(0.1)
    assert entries and entries[0].decision is QueryDecision.ERROR, entries[:1]
    assert "client" in (entries[0].error or "")
    assert pool.running(OWNER) == 0  # its worker process is free for the next query


def test_table_less_queries_run_limited_and_the_server_keeps_answering(wire: Wire) -> None:
    """SELECT without a table is answered by a catalog worker process with its own limits, never the server."""
    with psycopg.connect(wire.dsn(CONSUMER), autocommit=True) as conn:
        for bomb in ("SELECT len(range(2000000000))", "SELECT length(repeat(repeat('x', 1000000), 3000))"):
            with pytest.raises(psycopg.Error):
                conn.execute(bomb)
        assert conn.execute("SELECT 1").fetchone() == (1,)
        version = conn.execute("SELECT version()").fetchone()
        assert version is not None and "meshplane" in version[0]
    with psycopg.connect(wire.dsn(OWNER)) as other:
        assert other.execute(f"SELECT count(*) FROM {EVENTS}").fetchone() is not None


def test_a_million_rows_stream_through(wire: Wire) -> None:
    """A result past the Python API's row cap streams to the client (the wire holds no result whole)."""
    cap = wire.mesh.access.gateway.sandbox.limits.max_rows
    sql = (f"SELECT range AS id, range * 2 AS twice, CAST(range AS VARCHAR) AS label, range % 7 = 0 AS seventh, "
           f"range / 3.0 AS third FROM range({cap + 5}), (SELECT 1 FROM {EVENTS} LIMIT 1)")  # fmt: skip
    with pytest.raises(QueryRejected, match="more than"):
        wire.mesh.access.query(OWNER, sql)
    rows = 0
    with psycopg.connect(wire.dsn(OWNER)) as conn, conn.cursor() as cursor:
        for row in cursor.stream(sql):
            rows += 1
            last = row
    assert rows == cap + 5 and last[0] == cap + 4 and last[2] == str(cap + 4)


COLUMNS = "SELECT column_name FROM information_schema.columns WHERE table_name = 'listening_events'"


def test_psql_browses_and_queries(wire: Wire) -> None:
    env = {**os.environ, "PGPASSWORD": wire.tokens[CONSUMER], "PGSSLMODE": "require"}
    args = ["psql", "-X", "-h", "127.0.0.1", "-p", str(wire.server.port), "-U", CONSUMER, "-d", "media"]
    out = subprocess.run([*args, "-c", r"\dn", "-c", r"\dt podcasts.*", "-c", COLUMNS,
                          "-c", f"SELECT count(DISTINCT country_code) AS countries FROM {EVENTS}"],
                         env=env, capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "royalties" in out.stdout and "listening_events" in out.stdout
    assert "listener_email" in out.stdout and "countries" in out.stdout
    assert " 1\n" in out.stdout  # GB only
    outsider = [*args[:-4], "-U", OUTSIDER, "-d", "media"]
    denied = subprocess.run([*outsider, "-c", "SELECT * FROM podcasts.listening_events"],
                            env={**env, "PGPASSWORD": wire.tokens[OUTSIDER]}, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert "restricted" in denied.stderr
