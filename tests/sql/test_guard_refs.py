"""Unit tests of the pure sqlglot layer: parse, guard, port references, row filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meshplane.errors import QueryRejected
from meshplane.sql import (
    PortRef,
    find_port_refs,
    guard_query,
    guard_row_filter,
    parse_expression,
    parse_query,
    render,
)


def refs(sql: str) -> list[PortRef]:
    tree = parse_query(sql)
    guard_query(tree)
    return [table.ref for table in find_port_refs(tree)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM a.b.c", [PortRef("a.b.c")]),
        ("SELECT * FROM a.b", [PortRef("a.b")]),
        ("SELECT * FROM a.b.c.v2", [PortRef("a.b.c", "v2")]),
        ("FROM A.B.C", [PortRef("a.b.c")]),
        ("SELECT * FROM a.b.c AT (VERSION => 12)", [PortRef("a.b.c", as_of_snapshot=12)]),
        (
            "SELECT * FROM a.b.c AT (TIMESTAMP => '2025-01-31 12:00:00')",
            [PortRef("a.b.c", as_of_timestamp=datetime(2025, 1, 31, 12, tzinfo=UTC))],
        ),
        (
            "SELECT * FROM a.b.c FOR SYSTEM_TIME AS OF '2025-01-31T12:00:00+00:00'",
            [PortRef("a.b.c", as_of_timestamp=datetime(2025, 1, 31, 12, tzinfo=UTC))],
        ),
        ("WITH x AS (SELECT * FROM a.b.c) SELECT * FROM x JOIN d.e.f USING (k)", [PortRef("d.e.f"), PortRef("a.b.c")]),
        ("SELECT * FROM range(3), unnest([1])", []),
    ],
)
def test_port_refs(sql: str, expected: list[PortRef]) -> None:
    assert refs(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "DROP TABLE x",
        "INSERT INTO a.b.c VALUES (1)",
        "SELECT * FROM 'x.parquet'",
        "SELECT * FROM read_parquet('x')",
        "SELECT * FROM glob('*')",
        "SELECT getenv('HOME')",
        "SELECT * FROM x",
        "WITH c AS (SELECT 1) SELECT * FROM a.b.c",
        "SELECT * FROM a.b.c AT (VERSION => -1)",
        "SELECT * FROM a.b.c AT (OFFSET => 1)",
        "SELECT * FROM information_schema.tables",
        "SELECT $1 FROM a.b.c",
        "SELECT * FROM a.b.c.d.e",
        "",
    ],
)
def test_refused(sql: str) -> None:
    with pytest.raises(QueryRejected):
        refs(sql)


def test_parse_error_names_position_not_text() -> None:
    with pytest.raises(QueryRejected, match=r"line 1, column \d+") as caught:
        parse_query("SELECT secretvalue FROM (")
    assert "secretvalue" not in str(caught.value)


def test_render_quotes_and_drops_comments() -> None:
    assert render(parse_query("SELECT x /* c */ FROM a.b.c -- */ drop")) == 'SELECT "x" FROM "a"."b"."c"'


def test_row_filter_guard() -> None:
    guard_row_filter(parse_expression("region <> 'X' AND amount > 3"), ["region", "amount"])
    for bad in ["other = 1", "t.region = 1", "region IN (SELECT 1)", "count(*) > 1", "getenv('x') = region"]:
        with pytest.raises(QueryRejected):
            guard_row_filter(parse_expression(bad), ["region", "amount"])
    with pytest.raises(QueryRejected):
        parse_expression("region = 1; DROP TABLE x")
