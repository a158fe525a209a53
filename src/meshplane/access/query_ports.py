"""What the query gateway needs to know about one port it may read: files, columns, masks, grant.

A resolver (:data:`PortResolver`) turns each :class:`~meshplane.sql.PortRef` of a query into a
:class:`ReadablePort` or raises :class:`~meshplane.errors.AccessDenied`. Time travel is the resolver's
job: it lists the data files of the snapshot the reference asks for (``as_of_snapshot`` or
``as_of_timestamp``) and reports that snapshot's id; the gateway checks the answer matches the question.
The masks, granted columns and row filter are always the current ones, also on old snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING

from meshplane.errors import QueryRejected

if TYPE_CHECKING:  # the SQL parser loads with the gateway, not with the access decision
    from meshplane.sql import PortRef

__all__ = ["MaskKind", "PortColumn", "PortResolver", "Predicate", "ReadablePort"]


Predicate = tuple[str, str, tuple[object, ...]]
"""A conjunct of a query's WHERE a port's files can be pruned by: ``(column, op, values)``, op one of ``=``, ``<``,
``<=``, ``>``, ``>=`` (one value) or ``in``; the column is one the reader sees unmasked, the values literals."""


class MaskKind(StrEnum):
    """How a column's values are replaced before a consumer sees them (ODCS ``customProperties.mask``)."""

    HASH = "hash"
    """sha256 of the consumer's key and the value: joinable within one consumer, not across consumers."""
    REDACT = "redact"
    """A constant ``'***'`` for every row, NULLs included."""
    NULL = "null"
    """NULL of the column's type."""
    PARTIAL = "partial"
    """E-mail addresses keep their domain (``***@example.com``); other text keeps its last 4 characters
    when it is at least 8 long, else ``***``."""


@dataclass(frozen=True, slots=True)
class PortColumn:
    """A column of a port's table: its name and DuckDB type (``VARCHAR``, ``DECIMAL(15,2)``, ...)."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class ReadablePort:
    """One port as a given principal may read it at one snapshot."""

    address: str
    version: str
    files: tuple[str, ...]
    columns: tuple[PortColumn, ...]
    masks: Mapping[str, MaskKind] = field(default_factory=dict)
    """Column (or ``column.field.subfield`` of a STRUCT column) -> mask."""
    granted_columns: frozenset[str] | None = None
    """None grants every column."""
    row_filter: str | None = None
    """A DuckDB boolean expression over the port's raw columns; rows where it is not true are dropped."""
    snapshot_id: int | None = None
    map_keys: Mapping[str, frozenset[str]] | None = None
    """The MAP values a non-owner sees: the path of each MAP (``attributes``, ``profile.attributes``; lower case)
    -> the keys its contract declares (lower case); only their entries are shown, masked as each key's property
    says, and a MAP not listed shows none. None (an owner's read) shows every key."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "masks", MappingProxyType({k.lower(): MaskKind(v) for k, v in self.masks.items()}))
        if self.map_keys is not None:
            object.__setattr__(self, "map_keys", MappingProxyType(
                {k.lower(): frozenset(key.lower() for key in v) for k, v in self.map_keys.items()}))  # fmt: skip
        names = [column.name.lower() for column in self.columns]
        if len(set(names)) != len(names) or not names:
            raise QueryRejected(f"port {self.address} has no columns or duplicate column names")
        masked = {name.split(".", 1)[0] for name in self.masks}  # ``column.field`` masks a STRUCT's field
        unknown = (masked | set(self.granted_columns or ())) - set(names)
        if unknown:
            raise QueryRejected(f"port {self.address}: masks or grants name unknown columns {sorted(unknown)}")
        for path in self.files:
            # An object of a warehouse on S3 is named by its full s3://bucket/key URI (no globs either).
            located = (path.startswith("s3://") and len(path) > 5) or PurePosixPath(path).is_absolute()
            if not located or "\x00" in path or any(ch in path for ch in "*?[]{}"):
                raise QueryRejected(
                    f"port {self.address}: data files must be absolute paths or s3:// object URIs without globs"
                )

    def visible_columns(self) -> tuple[PortColumn, ...]:
        """The granted columns, in table order."""
        granted = None if self.granted_columns is None else {c.lower() for c in self.granted_columns}
        return tuple(c for c in self.columns if granted is None or c.name.lower() in granted)


PortResolver = Callable[["PortRef"], ReadablePort]
"""Resolve one reference for the querying principal; raise AccessDenied when it may not read the port."""
