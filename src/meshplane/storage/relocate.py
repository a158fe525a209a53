"""Relocation: a warehouse folder that moved (or was copied) becomes readable again where it now is.

Iceberg metadata names every file by an absolute URI: the table's ``location``, each snapshot's manifest list,
each manifest, each data file and the metadata log. Moving the mesh folder leaves them pointing at the old
place (a copy silently reads the original's files). :func:`relocate_tables` rewrites, for each table whose
current metadata lies outside the warehouse, every manifest list and manifest with the new URIs (new files,
the originals untouched) and writes a new metadata version whose paths all lie in the new warehouse; the
catalog's pointer then moves with a compare-and-swap, so a reader sees the old version or the new one. Snapshot
ids, sequence numbers, summaries and time travel are kept. The Parquet data files carry no paths and are not
touched. Any reader of the catalog (pyiceberg, DuckDB's ``iceberg_scan`` on the metadata file, meshplane's
gateway) then resolves everything inside the new folder.

:meth:`TableStore.moved_from` is the check every read makes: a table whose metadata lies outside the local
warehouse is refused with the command that fixes it, never read from wherever the old paths still lead.
"""

from __future__ import annotations

import uuid
from copy import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshplane.errors import StorageError
from meshplane.storage.store import CATALOG_NAME, TableStore
from meshplane.storage.tables import TableId

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.table.metadata import TableMetadata

__all__ = ["RELOCATE_COMMAND", "Relocation", "relocate_tables"]

RELOCATE_COMMAND = "meshplane maintain --relocate"
_METADATA = "/metadata/"


@dataclass(frozen=True)
class Relocation:
    """One table moved from ``old_location`` (its metadata file before) to ``new_location`` (after)."""

    table_id: TableId
    old_location: str
    new_location: str
    snapshots: int
    manifests: int


def relocate_tables(store: TableStore) -> list[Relocation]:
    """Rewrite every table whose metadata lies outside the store's warehouse so that it lies inside it."""
    if store.remote is not None:
        raise StorageError(
            "relocation rewrites a local warehouse; a warehouse on object storage is addressed by its bucket URI "
            "in mesh.yaml, which moving the mesh folder does not change"
        )
    import sqlalchemy as sa

    with store._engine.connect() as conn:
        try:
            rows = conn.execute(
                sa.text(
                    "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
                    "WHERE catalog_name = :catalog ORDER BY table_namespace, table_name"
                ),
                {"catalog": CATALOG_NAME},
            ).fetchall()
        except sa.exc.SQLAlchemyError:
            return []  # no table was ever published
    done: list[Relocation] = []
    for namespace, name, location in rows:
        if location is None or store.moved_from(str(location)) is None:
            continue
        table_id = TableId(str(namespace), str(name))
        with store.lock(table_id, timeout=60.0):
            done.append(_relocate(store, table_id, str(location)))
    return done


def _relocate(store: TableStore, table_id: TableId, old_metadata: str) -> Relocation:
    from pyiceberg.io.pyarrow import PyArrowFileIO
    from pyiceberg.serializers import FromInputFile, ToOutputFile

    old_root = old_metadata.rsplit(_METADATA, 1)[0]
    new_root = store.table_uri(table_id)

    def here(uri: str) -> str:
        if uri.startswith(old_root + "/"):
            return new_root + uri[len(old_root) :]
        raise StorageError(
            f"{table_id}: {uri} lies outside the table's folder {old_root}; it cannot be relocated with the table"
        )

    io = PyArrowFileIO()
    source = here(old_metadata)
    try:
        metadata = FromInputFile.table_metadata(io.new_input(source))
    except FileNotFoundError:
        raise StorageError(
            f"{table_id}: its metadata was at {old_metadata}; {source} is missing, so the warehouse was not moved "
            "whole: copy the whole .meshplane folder, then run " + RELOCATE_COMMAND
        ) from None
    if metadata.location != old_root:
        raise StorageError(f"{table_id}: metadata file {source} names another table folder, {metadata.location}")
    rewritten: dict[str, Any] = {}  # old manifest path -> its rewritten ManifestFile (shared by snapshots)
    snapshots = [_snapshot(io, metadata, snapshot, here, rewritten, new_root) for snapshot in metadata.snapshots]
    from pyiceberg.table.snapshots import MetadataLogEntry

    log = [MetadataLogEntry(metadata_file=here(e.metadata_file), timestamp_ms=e.timestamp_ms)
           for e in metadata.metadata_log]  # fmt: skip
    log.append(MetadataLogEntry(metadata_file=source, timestamp_ms=metadata.last_updated_ms))
    # statistics files (none are written by meshplane) would name old paths: dropped rather than left dangling
    changes = {"location": new_root, "snapshots": snapshots, "metadata_log": log, "statistics": [],
               "partition_statistics": []}  # fmt: skip
    moved = metadata.model_copy(update=changes)
    version = _version(old_metadata) + 1
    new_metadata = f"{new_root}/metadata/{version:05d}-{uuid.uuid4()}.metadata.json"
    ToOutputFile.table_metadata(moved, io.new_output(new_metadata))
    _swap(store, table_id, old_metadata, new_metadata)
    return Relocation(table_id, old_metadata, new_metadata, len(snapshots), len(rewritten))


def _snapshot(io: FileIO, metadata: TableMetadata, snapshot: Any, here: Any, rewritten: dict[str, Any],
              new_root: str) -> Any:  # fmt: skip
    """The snapshot with a new manifest list naming rewritten manifests (data file paths moved)."""
    from pyiceberg.manifest import read_manifest_list, write_manifest, write_manifest_list

    manifests = []
    for manifest in read_manifest_list(io.new_input(here(snapshot.manifest_list))):
        if manifest.manifest_path not in rewritten:
            readable = copy(manifest)
            readable[0] = here(manifest.manifest_path)  # manifest_path
            entries = readable.fetch_manifest_entry(io, discard_deleted=False)
            output = io.new_output(f"{new_root}/metadata/{uuid.uuid4()}-m0.avro")
            spec = metadata.specs()[manifest.partition_spec_id]
            added_by = manifest.added_snapshot_id or snapshot.snapshot_id
            with write_manifest(metadata.format_version, spec, metadata.schema(), output, added_by,
                                "deflate") as writer:  # fmt: skip
                for entry in entries:
                    entry.data_file[1] = here(entry.data_file.file_path)  # file_path
                    writer.add_entry(entry)
            written = writer.to_manifest_file()
            moved = copy(manifest)  # counts, sequence numbers and partition summaries as they were
            moved[0], moved[1] = written.manifest_path, written.manifest_length
            rewritten[manifest.manifest_path] = moved
        manifests.append(rewritten[manifest.manifest_path])
    manifest_list = f"{new_root}/metadata/snap-{snapshot.snapshot_id}-0-{uuid.uuid4()}.avro"
    with write_manifest_list(metadata.format_version, io.new_output(manifest_list),
                             snapshot.snapshot_id, snapshot.parent_snapshot_id, snapshot.sequence_number,
                             "deflate") as list_writer:  # fmt: skip
        list_writer.add_manifests(manifests)
    return snapshot.model_copy(update={"manifest_list": manifest_list})


def _version(location: str) -> int:
    name = location.rsplit("/", 1)[-1]
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _swap(store: TableStore, table_id: TableId, old: str, new: str) -> None:
    from pyiceberg.catalog.sql import IcebergTables
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    with Session(store.catalog.engine) as session:
        result: Any = session.execute(
            update(IcebergTables)
            .where(
                IcebergTables.catalog_name == CATALOG_NAME,
                IcebergTables.table_namespace == table_id.namespace,
                IcebergTables.table_name == table_id.name,
                IcebergTables.metadata_location == old,
            )
            .values(metadata_location=new, previous_metadata_location=old)
        )
        if result.rowcount < 1:
            raise StorageError(f"{table_id} was changed by another process while it was relocated; run it again")
        session.commit()
    store._loaded.pop(table_id, None)
