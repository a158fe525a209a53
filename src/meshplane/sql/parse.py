"""Parse consumer SQL in DuckDB's dialect into exactly one sqlglot tree, and render trees back to SQL.

The parser refuses, before building any tree, text that is too long, that does not start like a query, or
that holds more than one statement; parse errors carry the line and column but never echo the query text.
"""

from __future__ import annotations

import difflib
import re

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from meshplane.errors import QueryRejected, QuerySyntaxError

__all__ = ["DIALECT", "MAX_SQL_CHARS", "caret", "parse_expression", "parse_query", "render"]

DIALECT = "duckdb"
MAX_SQL_CHARS = 100_000
"""Longer query texts are refused before tokenising (resource exhaustion)."""

_QUERY_STARTS = frozenset(
    {
        TokenType.SELECT,
        TokenType.WITH,
        TokenType.FROM,
        TokenType.L_PAREN,
        TokenType.VALUES,
        TokenType.PIVOT,
        TokenType.UNPIVOT,
    }
)
_dialect = Dialect.get_or_raise(DIALECT)
_START_WORDS = ["SELECT", "WITH", "FROM", "VALUES", "PIVOT", "UNPIVOT"]


def parse_query(sql: str) -> exp.Expr:
    """The one statement in ``sql``; raises QueryRejected for anything but a single query text."""
    tokens = _tokenize(sql)
    if not tokens:
        raise QueryRejected("the query is empty; write one SELECT statement")
    if tokens[0].token_type not in _QUERY_STARTS:
        word = tokens[0].text
        close = difflib.get_close_matches(word.upper(), _START_WORDS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise QueryRejected(
            f"only read-only queries are allowed: a query starts with SELECT, WITH, FROM, VALUES or PIVOT, "
            f"not {word!r}{hint}"
        )
    statements = _parse_tokens(tokens, sql)
    if len(statements) != 1:
        raise QueryRejected(f"exactly one statement is allowed; found {len(statements)}")
    return statements[0]


def parse_expression(sql: str) -> exp.Expr:
    """One scalar or boolean expression (a row filter), parsed on its own."""
    tokens = _tokenize(sql)
    if not tokens:
        raise QueryRejected("the expression is empty")
    if any(token.token_type == TokenType.SEMICOLON for token in tokens):
        raise QueryRejected("an expression may not contain ';'")
    try:
        parser = _dialect.parser(error_level=ErrorLevel.RAISE)
        # parse_into Condition keeps the parser in expression mode (no statement keywords)
        trees = parser.parse_into(exp.Condition, tokens, sql)
    except (ParseError, TokenError) as error:
        raise _syntax_error("could not parse the expression", error) from None
    except RecursionError:
        raise QueryRejected("the expression is nested too deeply") from None
    found = [tree for tree in trees if tree is not None]
    if len(found) != 1:
        raise QueryRejected("write exactly one expression")
    return found[0]


def render(tree: exp.Expr) -> str:
    """DuckDB SQL for ``tree``: every identifier quoted, comments dropped."""
    try:
        return tree.sql(dialect=DIALECT, identify=True, comments=False, unsupported_level=ErrorLevel.RAISE, copy=False)
    except RecursionError:
        raise QueryRejected("the query is nested too deeply") from None
    except Exception as error:  # sqlglot raises UnsupportedError and ValueError subclasses here
        raise QueryRejected(f"the query uses syntax the gateway cannot render: {type(error).__name__}") from None


def _tokenize(sql: str) -> list[Token]:
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRejected(f"the query is longer than {MAX_SQL_CHARS} characters")
    try:
        return list(_dialect.tokenize(sql))
    except (TokenError, ParseError) as error:
        raise _syntax_error("could not read the query", error) from None
    except RecursionError:
        raise QueryRejected("the query is nested too deeply") from None


def _parse_tokens(tokens: list[Token], sql: str) -> list[exp.Expr]:
    try:
        parser = _dialect.parser(error_level=ErrorLevel.RAISE)
        trees = parser.parse(tokens, sql)
    except (ParseError, TokenError) as error:
        raise _syntax_error("could not parse the query", error) from None
    except RecursionError:
        raise QueryRejected("the query is nested too deeply") from None
    return [tree for tree in trees if tree is not None]


_REQUIRED = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*\.(\w+)'>")
# What is missing, in words, by the sqlglot node that lacks it (a user never sees sqlglot's class names).
_EXPECTED = {
    "Where": "a condition after WHERE", "Having": "a condition after HAVING", "Order": "columns after ORDER BY",
    "Group": "columns after GROUP BY", "Join": "a table to join", "Limit": "a number after LIMIT",
    "Select": "columns to select", "From": "a table after FROM", "Cast": "a value to cast",
}  # fmt: skip
_PUNCTUATION = set("()[]{},;.=<>+-*/")


def _nameable(token: str) -> bool:
    """SQL keywords and punctuation may be repeated in an error; names and literals never are."""
    return token.upper() in _dialect.tokenizer_class.KEYWORDS or (bool(token) and set(token) <= _PUNCTUATION)


def _syntax_error(prefix: str, error: Exception) -> QueryRejected:
    """Where a sqlglot error is and what was expected there, in words (never sqlglot's internals, never
    the query text: errors reach logs and other surfaces; the CLI adds the line and a caret itself)."""
    details = getattr(error, "errors", None)
    if not (isinstance(details, list) and details and isinstance(details[0], dict)):
        return QueryRejected(f"{prefix}: syntax error")
    first = details[0]
    description = str(first.get("description") or "syntax error")
    highlight = str(first.get("highlight") or "")
    required = _REQUIRED.match(description)
    if required is not None:
        after = f" after {highlight.upper()}" if _nameable(highlight) else ""
        expected = _EXPECTED.get(required.group(2)) or f"an operand{after}"
        description = f"expected {expected}"
    elif description.startswith("Expecting "):
        description = f"expected {description.removeprefix('Expecting ')}" + (
            f" before {highlight.upper()}" if _nameable(highlight) else ""
        )
    elif description.startswith("Invalid expression / Unexpected token"):
        description = "unexpected " + (repr(highlight.upper()) if _nameable(highlight) else "name or value")
    elif description.startswith("Expected "):  # "Expected table name but got <Token ...>"
        description = "expected a " + description.removeprefix("Expected ").split(" but got", 1)[0]
    if "<" in description or "Token" in description:  # anything else carrying sqlglot's internals
        description = "syntax error"
    line, column = first.get("line"), first.get("col")  # sqlglot's column is the offending token's last
    if not isinstance(line, int) or not isinstance(column, int):
        return QueryRejected(f"{prefix}: {description}")
    # Point after a token that misses something, at the start of a token that is wrong.
    column = column + 1 if required is not None else max(1, column - len(highlight) + 1)
    return QuerySyntaxError(f"{prefix}: {description} at line {line}, column {column}", line, column)


def caret(sql: str, line: int, column: int) -> str:
    """The query's ``line`` with a caret under ``column`` (1-based), indented, or nothing without the text."""
    lines = sql.splitlines()
    if not sql or not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1]
    at = max(0, min(column - 1, len(text)))
    start = max(0, at - 60)
    return f"\n  {text[start : start + 120]}\n  {' ' * (at - start)}^"
