"""Parse consumer SQL in DuckDB's dialect into exactly one sqlglot tree, and render trees back to SQL.

The parser refuses, before building any tree, text that is too long, that does not start like a query, or
that holds more than one statement; parse errors carry the line and column but never echo the query text.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from meshplane.errors import QueryRejected

__all__ = ["DIALECT", "MAX_SQL_CHARS", "parse_expression", "parse_query", "render"]

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


def parse_query(sql: str) -> exp.Expr:
    """The one statement in ``sql``; raises QueryRejected for anything but a single query text."""
    tokens = _tokenize(sql)
    if not tokens:
        raise QueryRejected("the query is empty; write one SELECT statement")
    if tokens[0].token_type not in _QUERY_STARTS:
        raise QueryRejected(
            f"only read-only queries are allowed (SELECT, WITH, FROM, VALUES, PIVOT); "
            f"the statement starts with {tokens[0].token_type.name}"
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
        raise QueryRejected(f"could not parse the expression: {_describe(error)}") from None
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
        raise QueryRejected(f"could not read the query: {_describe(error)}") from None
    except RecursionError:
        raise QueryRejected("the query is nested too deeply") from None


def _parse_tokens(tokens: list[Token], sql: str) -> list[exp.Expr]:
    try:
        parser = _dialect.parser(error_level=ErrorLevel.RAISE)
        trees = parser.parse(tokens, sql)
    except (ParseError, TokenError) as error:
        raise QueryRejected(f"could not parse the query: {_describe(error)}") from None
    except RecursionError:
        raise QueryRejected("the query is nested too deeply") from None
    return [tree for tree in trees if tree is not None]


def _describe(error: Exception) -> str:
    """Position and kind of a sqlglot error, without the highlighted query text."""
    details = getattr(error, "errors", None)
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        description = str(first.get("description") or "syntax error")
        line, column = first.get("line"), first.get("col")
        if line is not None and column is not None:
            return f"{description} at line {line}, column {column}"
        return description
    return "syntax error"
