"""meshplane.access: the governed query gateway (and, later, access requests and grants).

Query gateway modules: ``query_ports`` (what a resolver returns), ``masks``, ``rewrite``, ``query_errors``
and ``gateway``.
"""

from meshplane.access.gateway import Decision, PortRead, QueryGateway, QueryLogEntry, QueryLogger, QueryResult
from meshplane.access.query_errors import QueryFailed
from meshplane.access.query_ports import MaskKind, PortColumn, PortResolver, ReadablePort
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
