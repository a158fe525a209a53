"""Open table storage: every output port is an Apache Iceberg table (pyiceberg, SQL catalog).

Public API: :class:`TableStore` (publish, snapshots, time travel, locks, cleanup), :class:`TableId`
and :class:`SnapshotInfo` (:class:`SnapshotSummary` for planning). Importing this package does not import pyiceberg.
"""

from meshplane.storage.locks import Lease
from meshplane.storage.store import TableStore
from meshplane.storage.tables import Publication, SnapshotInfo, SnapshotSummary, TableContract, TableId

__all__ = ["Lease", "Publication", "SnapshotInfo", "SnapshotSummary", "TableContract", "TableId", "TableStore"]
