"""meshplane.access: the governed query gateway (and, later, access requests and grants).

Query gateway modules: ``query_ports`` (what a resolver returns), ``masks``, ``rewrite``, ``query_errors``
and ``gateway``.

The gateway and the rewrite load on first use: the access decision (``policy``, ``authority``,
``agreements``) is also asked by ``meshplane check``, which parses no SQL and should not pay for the SQL
parser's import (``tests/overhead/test_startup_imports.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from meshplane.access.query_errors import QueryFailed
from meshplane.access.query_ports import MaskKind, PortColumn, PortResolver, ReadablePort

if TYPE_CHECKING:
    from meshplane.access.gateway import Decision, PortRead, QueryGateway, QueryLogEntry, QueryLogger, QueryResult
    from meshplane.access.rewrite import RewrittenQuery, rewrite_query

__all__ = [
    "Decision",
    "MaskKind",
    "PortColumn",
    "PortRead",
    "PortResolver",
    "QueryFailed",
    "QueryGateway",
    "QueryLogEntry",
    "QueryLogger",
    "QueryResult",
    "ReadablePort",
    "RewrittenQuery",
    "rewrite_query",
]

_LAZY = {
    **dict.fromkeys(("Decision", "PortRead", "QueryGateway", "QueryLogEntry", "QueryLogger", "QueryResult"), "gateway"),
    **dict.fromkeys(("RewrittenQuery", "rewrite_query"), "rewrite"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
