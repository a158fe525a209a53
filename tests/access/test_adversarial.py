"""The adversarial suite: every case runs through the gateway, and again raw in the locked-down sandbox.

Through the gateway nothing secret may reach a result cell, a column name, an error or the query log.
Raw in the sandbox (guard and rewrite bypassed, only a canary-free file allowed), DuckDB's lockdown alone
must stop every attempt to read any other file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from adversarial_cases import CASES, Case

from conftest import ANALYST, CANARIES, CONSUMER_KEY, Mesh
from meshplane.access import QueryGateway
from meshplane.access.gateway import QueryLogEntry
from meshplane.engines.duckdb_sandbox import DuckDBSandbox, SandboxLimits
from meshplane.errors import MeshError

PLACEHOLDERS = (
    "customers_s2",
    "customers_s1",
    "orders",
    "regions",
    "salaries",
    "contacts",
    "secret_parquet",
    "secret_csv",
    "secret_txt",
    "secret_json",
)


def substitute(sql: str, mesh: Mesh) -> str:
    for name in PLACEHOLDERS:
        sql = sql.replace("{" + name + "}", mesh.path(name))
    return sql.replace("{root}", mesh.base)


def leaks(text: str, sql: str = "") -> list[str]:
    """Canaries in ``text`` that the query itself did not spell out."""
    lowered, typed = text.lower(), sql.lower()
    return [c for c in CANARIES if c.lower() in lowered and c.lower() not in typed]


def logged_text(entry: QueryLogEntry) -> str:
    """What an audit entry carries from the query and the data: its hash, row count, duration and timestamp are
    numbers the platform makes, in which the canary 31337 turns up by chance (a timestamp's 10:59:45.313376)."""
    return repr((entry.principal, entry.statement, entry.ports, entry.decision, entry.reason))


def dump(table: Any) -> str:
    cells = []
    for column in table.columns:
        try:
            cells.append(repr(column.to_pylist()))
        except (OverflowError, ValueError):  # values Python cannot hold (test_all_types' extremes)
            cells.append(column.to_string(window=10**6))
    return repr(table.column_names) + "".join(cells)


def test_suite_size() -> None:
    per_category = Counter(case.category for case in CASES)
    assert len({case.sql for case in CASES}) >= 150
    assert len(per_category) >= 12, per_category


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_through_gateway(case: Case, gateway: QueryGateway, resolver: Any, mesh: Mesh) -> None:
    sql = substitute(case.sql, mesh)
    logged = len(mesh.log)
    try:
        result = gateway.run(sql, ANALYST, resolver, consumer_key=CONSUMER_KEY)
    except MeshError as error:
        message = str(error)
        assert case.expect != "ok", f"refused a query that must run: {message}"
        assert not leaks(message, sql), message
        assert mesh.base not in message, message
        assert CONSUMER_KEY not in message
    else:
        assert case.expect != "reject", f"ran a query that must be refused: {dump(result.table)[:300]}"
        text = dump(result.table)
        assert not leaks(text, sql), text[:500]
        assert CONSUMER_KEY not in text
        if case.check is not None:
            case.check(result.table)
    entries = mesh.log[logged:]
    assert len(entries) == 1
    assert not leaks(logged_text(entries[0])), entries[0]
    if mesh.base not in sql:
        assert mesh.base not in repr(entries[0])


@pytest.fixture(scope="module")
def raw_sandbox(mesh: Mesh) -> Iterator[DuckDBSandbox]:
    sandbox = DuckDBSandbox(
        SandboxLimits(memory_limit="512MB", threads=2, timeout_seconds=3.0, max_rows=50_000),
        prewarm=False,
        object_store=mesh.store,
    )
    yield sandbox
    sandbox.close()


# The limits cases read no file and would grow this test process itself: the gateway runs them in a bounded
# child process (test_through_gateway), the raw sandbox runs in-process.
LOCKDOWN_CASES = [case for case in CASES if case.category != "limits"]


def test_a_warm_database_stays_locked_after_every_case(raw_sandbox: DuckDBSandbox, mesh: Mesh) -> None:
    """Every case, guard bypassed, on one kept database of one user (connect_warm): nothing leaks, and none of
    them loosens it for the next query of that user."""
    allowed = [mesh.path("regions")]
    for case in LOCKDOWN_CASES:
        sql = substitute(case.sql, mesh)
        connection = raw_sandbox.connect_warm("rita", allowed)
        try:
            text = dump(raw_sandbox.execute(connection, sql))
        except Exception as error:  # DuckDB's own, unsanitised errors
            text = str(error)
        assert not leaks(text, sql), (case.id, text[:500])
    connection = raw_sandbox.connect_warm("rita", allowed)
    settings = connection.execute(
        "SELECT current_setting('lock_configuration'), current_setting('enable_external_access'), "
        "current_setting('allowed_paths')"
    ).fetchone()
    connection.close()
    assert settings is not None and settings[0] is True and settings[1] is False
    assert list(settings[2]) == allowed
    other = raw_sandbox.connect_warm("olga", allowed)  # another user never shares rita's database
    assert other.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
    other.close()


@pytest.mark.parametrize("case", LOCKDOWN_CASES, ids=[case.id for case in LOCKDOWN_CASES])
def test_lockdown_alone(case: Case, raw_sandbox: DuckDBSandbox, mesh: Mesh) -> None:
    """The guard is bypassed: the raw SQL runs with only the canary-free regions file allowed."""
    sql = substitute(case.sql, mesh)
    try:
        table = raw_sandbox.run(sql, [mesh.path("regions")])
    except Exception as error:  # DuckDB's own, unsanitised errors
        assert not leaks(str(error), sql), str(error)[:500]
    else:
        assert not leaks(dump(table), sql), dump(table)[:500]
