"""Value types of the storage layer: which table, and what one of its snapshots holds."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from meshplane.errors import StorageError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "CONTENT_PROPERTY",
    "DataFileRef",
    "Publication",
    "SnapshotInfo",
    "SnapshotSummary",
    "TableContract",
    "TableId",
]

# A data file as readers get it: an absolute local path, or an ``s3://`` URI when the warehouse is on S3.
DataFileRef = Path | str

# A snapshot's summary key naming the earlier snapshot whose rows it holds unchanged (a compaction): consumers'
# plans compare that id, so rewriting files does not make every downstream product stale.
CONTENT_PROPERTY = "meshplane.content-snapshot"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True, order=True)
class TableId:
    """An Iceberg table: ``namespace`` is the domain, ``name`` is ``<product>__<port>__v<major>``."""

    namespace: str
    name: str

    def __post_init__(self) -> None:
        # Names become folder names and catalog keys: refuse anything that could escape the warehouse.
        for part in (self.namespace, self.name):
            if not _NAME.match(part):
                raise StorageError(f"invalid table name part {part!r}: use lower_snake_case")

    @classmethod
    def for_port(cls, domain: str, product: str, port: str, major: int) -> TableId:
        """The table holding major version ``major`` of ``<domain>.<product>.<port>``."""
        return cls(domain, f"{product}__{port}__v{major}")

    @property
    def identifier(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}"


@dataclass(frozen=True)
class Publication:
    """Staged Parquet files to commit as a table's next snapshot (see ``TableStore.publish_all``)."""

    table_id: TableId
    files: tuple[Path, ...]
    schema: pa.Schema
    properties: Mapping[str, str] = field(default_factory=dict)
    contract: TableContract | None = None
    # False: the files replace the table's contents. True: they are added to the live files (an increment).
    append: bool = False
    # Non-empty: the files replace just these live files (a compaction; the other live files stay).
    replaces: tuple[DataFileRef, ...] = ()
    # True: the files replace the partitions they hold (the live files of those partitions are deleted in the
    # same snapshot); the other partitions stay as they are. Needs a partitioned table.
    partitions: bool = False


@dataclass(frozen=True)
class TableContract:
    """What a port's contract says about its table's columns, carried into the Iceberg schema so that other
    engines see it: ``required`` columns, ``identifiers`` (the primary key, in key order, as the table's
    identifier fields) and column ``docs``. The empty contract leaves every column optional and undocumented."""

    required: frozenset[str] = frozenset()
    identifiers: tuple[str, ...] = ()
    docs: Mapping[str, str] = field(default_factory=dict)
    partitioning: tuple[tuple[str, str], ...] = ()
    """The Iceberg partition spec as ``(source column, transform)`` pairs (identity, year, month, day, hour);
    empty: unpartitioned. Staged files must each hold one partition (see ``TableStore.partition_staged``)."""


@dataclass(frozen=True)
class SnapshotInfo:
    """One committed snapshot of a table.

    ``data_files`` is read from the snapshot's manifests on first access only, so listing
    snapshots or comparing fingerprints (``properties``) never touches the manifests.
    """

    table_id: TableId
    snapshot_id: int
    timestamp: datetime
    properties: Mapping[str, str]
    row_count: int
    schema: pa.Schema
    _load_files: Callable[[], tuple[DataFileRef, ...]] = field(repr=False, compare=False)

    @cached_property
    def data_files(self) -> tuple[DataFileRef, ...]:
        """The Parquet files that make up this snapshot: absolute local paths, or ``s3://`` URIs."""
        return self._load_files()


@dataclass(frozen=True)
class SnapshotSummary:
    """What planning needs of a table's current snapshot: its id, commit time and summary properties."""

    table_id: TableId
    snapshot_id: int
    timestamp: datetime
    properties: Mapping[str, str]
