"""Table references in a consumer query: port addresses, optional versions, optional time travel.

A port is named by its address, ``domain.product.port`` (sqlglot reads the three parts as
catalog.db.table), or ``domain.product`` for a product's single port; one table of a port whose contract has
several is ``domain.product.port.table``; a trailing ``vN`` part pins a major version
(``podcasts.listening_events.listening_events.v1``). Time travel uses the ``AT`` clause or the
SQL:2011 ``FOR SYSTEM_TIME AS OF`` clause, both parsed by sqlglot's DuckDB dialect::

    FROM podcasts.listening_events.listening_events AT (VERSION => 4127)          -- a snapshot id
    FROM podcasts.listening_events.listening_events AT (TIMESTAMP => '2025-01-31 12:00:00')
    FROM podcasts.listening_events.listening_events FOR SYSTEM_TIME AS OF '2025-01-31T12:00:00Z'

Timestamps without a zone are UTC. Everything else that is a table must be a CTE of the same query, a
VALUES list or an allowlisted table function; CTE names may not shadow any part of a referenced address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlglot import exp

from meshplane.errors import QueryRejected

__all__ = ["RESERVED_SCHEMAS", "PortRef", "TableRef", "find_port_refs"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_VERSION = re.compile(r"^v(0|[1-9][0-9]*)$")
_TABLE_ARGS = frozenset({"this", "db", "catalog", "alias", "when", "version", "pivots", "sample"})
RESERVED_SCHEMAS = frozenset({"information_schema", "pg_catalog", "main", "system", "temp", "memory", "sqlite_master"})
"""Names that DuckDB resolves to its own catalogs; never a domain."""
_SYSTEM_PREFIXES = ("duckdb_", "pg_", "sqlite_", "pragma_", "information_schema")


@dataclass(frozen=True, slots=True)
class PortRef:
    """One port as a query names it: address, optional major version, optional point in time."""

    address: str
    version: str | None = None
    as_of_snapshot: int | None = None
    as_of_timestamp: datetime | None = None

    def __str__(self) -> str:
        text = self.address + (f".{self.version}" if self.version else "")
        if self.as_of_snapshot is not None:
            text += f" AT (VERSION => {self.as_of_snapshot})"
        elif self.as_of_timestamp is not None:
            text += f" AT (TIMESTAMP => '{self.as_of_timestamp.isoformat()}')"
        return text


@dataclass(frozen=True, slots=True)
class TableRef:
    """A port reference and the node that names it in the tree."""

    node: exp.Table
    ref: PortRef

    @property
    def default_alias(self) -> str:
        """The name the relation keeps when the query gives it no alias: the address's last part."""
        return self.ref.address.rsplit(".", 1)[-1]


def find_port_refs(tree: exp.Expr) -> list[TableRef]:
    """Every port reference in ``tree``, in tree order (depth first); QueryRejected for any other kind of table."""
    ctes = _cte_names(tree)
    found: list[TableRef] = []
    for node in tree.find_all(exp.Table, bfs=False):
        if isinstance(node.this, exp.Func):
            continue  # table functions are checked by the guard's allowlist
        parts = _parts(node)
        if len(parts) == 1:
            if parts[0] in ctes and not node.args.get("when") and not node.args.get("version"):
                continue
            raise QueryRejected(f"unknown relation {parts[0]!r}: name ports by address, e.g. domain.product.port")
        found.append(TableRef(node, _port_ref(node, parts)))
    shadowed = ctes & {part for table in found for part in table.ref.address.split(".")}
    if shadowed:
        raise QueryRejected(f"the CTE name {sorted(shadowed)[0]!r} shadows part of a port address; rename it")
    return found


def _cte_names(tree: exp.Expr) -> frozenset[str]:
    names: set[str] = set()
    for cte in tree.find_all(exp.CTE):
        name = cte.alias_or_name
        if not name.isascii() or not _NAME.match(name.lower()):
            raise QueryRejected(f"the CTE name {name!r} is not a plain lower_snake_case name")
        if name.lower().startswith(_SYSTEM_PREFIXES) or name.lower() in RESERVED_SCHEMAS:
            raise QueryRejected(f"the CTE name {name!r} is reserved for DuckDB's catalog; rename it")
        names.add(name.lower())
    return frozenset(names)


def _parts(node: exp.Table) -> list[str]:
    unexpected = sorted(key for key, value in node.args.items() if value and key not in _TABLE_ARGS)
    if unexpected:
        raise QueryRejected(f"unsupported table syntax ({', '.join(unexpected)}) on a table reference")
    parts: list[str] = []
    for part in node.parts:
        if not isinstance(part, exp.Identifier):
            raise QueryRejected("a table is named by plain identifiers only")
        text = part.this
        if not isinstance(text, str) or not text.isascii() or not _NAME.match(text.lower()):
            raise QueryRejected(
                "a table name must be a port address of lower_snake_case parts, e.g. domain.product.port"
            )
        parts.append(text.lower())
    return parts


def _port_ref(node: exp.Table, parts: list[str]) -> PortRef:
    version: str | None = None
    if len(parts) >= 3 and _VERSION.match(parts[-1]):
        version = parts.pop()
    if len(parts) not in (2, 3, 4):
        raise QueryRejected(
            "a port address has two to four parts (domain.product[.port[.table]]) and an optional version (.v1)"
        )
    if parts[0] in RESERVED_SCHEMAS:
        raise QueryRejected(f"{parts[0]!r} is a system schema, not a domain; catalog tables are not readable")
    snapshot, timestamp = _as_of(node)
    return PortRef(".".join(parts), version, snapshot, timestamp)


def _as_of(node: exp.Table) -> tuple[int | None, datetime | None]:
    when, version = node.args.get("when"), node.args.get("version")
    if when is not None and version is not None:
        raise QueryRejected("use one time travel clause per port reference")
    if when is None and version is None:
        return None, None
    if isinstance(when, exp.HistoricalData):
        if str(when.this).upper() != "AT":
            raise QueryRejected("time travel is written AT (VERSION => id) or AT (TIMESTAMP => '...')")
        kind, value = str(when.args.get("kind", "")).upper(), when.expression
    elif isinstance(version, exp.Version):
        if str(version.args.get("kind", "")).upper() != "AS OF":
            raise QueryRejected("only FOR SYSTEM_TIME AS OF is supported, not ranges of versions")
        kind, value = str(version.this).upper(), version.expression
    else:
        raise QueryRejected("unsupported time travel clause")
    if kind == "VERSION":
        return _snapshot_id(value), None
    if kind == "TIMESTAMP":
        return None, _timestamp(value)
    raise QueryRejected("time travel is written AT (VERSION => id) or AT (TIMESTAMP => '...')")


def _snapshot_id(value: exp.Expr | None) -> int:
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        number = int(value.this)
        if number < 2**63:
            return number
    raise QueryRejected("a snapshot id is a non-negative integer literal")


def _timestamp(value: exp.Expr | None) -> datetime:
    if isinstance(value, exp.Cast) and value.to.is_type("timestamp", "timestamptz", "date"):
        value = value.this
    if isinstance(value, exp.Literal) and value.is_string and len(value.this) <= 40:
        try:
            moment = datetime.fromisoformat(value.this)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise QueryRejected("a time travel timestamp is an ISO-8601 string literal, e.g. '2025-01-31 12:00:00'")
