"""SQL errors say where (line, column, a caret under the place) and what was expected, in words."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from meshplane.access.query_errors import sanitize_engine_error
from meshplane.errors import QueryRejected, QuerySyntaxError
from meshplane.sql import caret, parse_query


def _message(sql: str) -> str:
    with pytest.raises(QueryRejected) as caught:
        parse_query(sql)
    return str(caught.value)


def test_a_misspelt_first_keyword_is_named_with_a_suggestion() -> None:
    message = _message("SELEC * FROM t")
    assert message.endswith("not 'SELEC'; did you mean SELECT?")
    assert "VAR" not in message


@pytest.mark.parametrize(
    ("sql", "expected", "column"),
    [
        ("SELECT * FROM t WHERE", "expected a condition after WHERE", 22),
        ("SELECT a FROM t ORDER BY", "expected columns after ORDER BY", 25),
        ("SELECT a FROM t WHERE a = ", "expected an operand after =", 26),
        ("SELECT (a FROM t", "expected ) before FROM", 11),
        ("SELECT a, FROM t x y z", "unexpected name or value", 20),
        ("SELECT secret FROM (", "expected a table name", 20),
    ],
)
def test_parse_errors_point_at_the_place_and_say_what_was_expected(sql: str, expected: str, column: int) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse_query(sql)
    message = str(caught.value)
    assert message.endswith(f"{expected} at line 1, column {column}")
    assert "sqlglot" not in message and "Required keyword" not in message and "<" not in message
    assert (caught.value.line, caught.value.column) == (1, column)
    shown, pointer = caret(sql, 1, column).splitlines()[-2:]
    assert shown == f"  {sql}" and pointer == "  " + " " * (column - 1) + "^"


def test_the_cli_shows_the_line_of_the_error_with_a_caret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meshplane.cli.app import main

    root = tmp_path / "media"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "media", root, ignore=shutil.ignore_patterns(".meshplane"))
    with pytest.raises(SystemExit) as done:
        main(["query", "--mesh", str(root), "--as", "amelie", "SELECT 1\nFROM podcasts.catalog.shows\nWHERE"])
    assert done.value.code == 1
    assert capsys.readouterr().err.splitlines()[-3:] == [
        "error: could not parse the query: expected a condition after WHERE at line 3, column 6",
        "  WHERE",
        "       ^",
    ]


def test_a_failed_cast_names_the_column_and_the_type_but_not_the_value() -> None:
    connection = duckdb.connect()
    connection.sql("CREATE TABLE t AS SELECT 'alice@example.com' AS email")
    with pytest.raises(duckdb.ConversionException) as caught:
        connection.sql("SELECT CAST(email AS INTEGER) FROM t").fetchall()
    message = str(sanitize_engine_error(caught.value))
    assert "a value of column email could not be converted to INT32" in message
    assert "alice" not in message
