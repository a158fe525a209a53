"""Adapters over pyiceberg 0.12 (pinned): a replace-everything snapshot producer, a cheaper
transaction, schema conversion and evolution. Imported lazily by :mod:`meshplane.storage.store`.

Two pyiceberg behaviours are corrected here, both measured
(see test_many_publishes_keep_commits_cheap in tests/storage/test_store.py):

* ``_OverwriteFiles`` carries manifests whose entries are all DELETED into every later snapshot
  (the same bug as apache/iceberg-go#1153), so each full overwrite grows the manifest list by one.
* ``Transaction.table_metadata`` deep-copies the whole table metadata on every access (about
  twenty times per commit), which made a commit cost grow from 18 ms to 180 ms over 200 snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from pyiceberg.exceptions import ResolveError
from pyiceberg.io.pyarrow import (
    UnsupportedPyArrowTypeException,
    _ConvertToIcebergWithoutIDs,
    parquet_file_to_data_file,
    schema_to_pyarrow,
    visit_pyarrow,
)
from pyiceberg.manifest import DataFile, ManifestContent, ManifestEntry, ManifestEntryStatus
from pyiceberg.schema import Schema, promote
from pyiceberg.table import CreateTableTransaction, Table, TableProperties, Transaction
from pyiceberg.table.snapshots import Operation, Snapshot
from pyiceberg.table.update.snapshot import _FastAppendFiles, _OverwriteFiles
from pyiceberg.types import IcebergType, ListType, MapType, NestedField, PrimitiveType, StructType

from meshplane.errors import StorageError
from meshplane.storage.tables import TableContract

if TYPE_CHECKING:
    from pyiceberg.table.metadata import TableMetadata

__all__ = [
    "AppendFiles",
    "FastCreateTableTransaction",
    "FastTransaction",
    "OverwriteFiles",
    "PointerSwap",
    "ReplaceAllFiles",
    "ReplaceSomeFiles",
    "apply_contract",
    "apply_partitioning",
    "arrow_schema_of",
    "evolve_schema",
    "files_in_partitions",
    "iceberg_schema_of",
    "live_data_files",
    "partitioning_of",
    "set_name_mapping",
    "to_data_files",
]


class FastTransaction(Transaction):
    """A transaction that reuses its computed metadata until the staged updates change."""

    _memo: tuple[object, object, TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        memo = self._memo
        # Identity checks: the memo holds both objects, so their ids cannot be reused.
        if memo is None or memo[0] is not base or memo[1] is not updates:
            memo = (base, updates, _updated(base, updates))
            self._memo = memo
        return memo[2]


def _updated(base: TableMetadata, updates: tuple[Any, ...]) -> TableMetadata:
    """``update_table_metadata(base, updates)`` without its final deep copy of the whole metadata (~1 ms per
    call, twice per publish): table metadata is a frozen model and every update builds new objects (no list
    or dict of ``base`` is changed in place), so sharing the unchanged parts with ``base`` is safe, as the memo
    above already shares one result between every caller."""
    from pyiceberg.table.update import _apply_table_update, _TableMetadataUpdateContext
    from pyiceberg.utils.datetime import datetime_to_millis

    context = _TableMetadataUpdateContext()
    metadata = base
    for update in updates:
        metadata = _apply_table_update(update, metadata, context)
    if context.has_changes() and base.last_updated_ms == metadata.last_updated_ms:
        metadata = metadata.model_copy(update={"last_updated_ms": datetime_to_millis(datetime.now().astimezone())})
    metadata.spec().check_compatible(metadata.schema())
    metadata.sort_order().check_compatible(metadata.schema())
    return metadata


class FastCreateTableTransaction(FastTransaction, CreateTableTransaction):
    """A table-creating transaction with the same memoised metadata (a first publish built it ~14 times)."""


# An APPEND snapshot keeping every manifest of its parent and adding one for the new files (an increment).
AppendFiles = _FastAppendFiles


class _ParentFiles(_OverwriteFiles):
    """An OVERWRITE snapshot that restates entries of its parent's data manifests."""

    def _parent_manifests(self) -> list[Any]:
        metadata = self._transaction.table_metadata
        parent = metadata.snapshot_by_id(self._parent_snapshot_id) if self._parent_snapshot_id else None
        return [] if parent is None else list(parent.manifests(self._io))

    @staticmethod
    def _restated(entry: ManifestEntry, status: ManifestEntryStatus, snapshot_id: int | None) -> ManifestEntry:
        return ManifestEntry.from_args(
            status=status,
            snapshot_id=snapshot_id,
            sequence_number=entry.sequence_number,
            file_sequence_number=entry.file_sequence_number,
            data_file=entry.data_file,
        )

    def _deleted_parent_files(self, chosen: Callable[[str], bool]) -> list[ManifestEntry]:
        """The parent's live data files whose path is ``chosen``, as DELETED entries of this snapshot."""
        return [
            self._restated(entry, ManifestEntryStatus.DELETED, self._snapshot_id)
            for manifest in self._parent_manifests()
            if manifest.content == ManifestContent.DATA
            for entry in manifest.fetch_manifest_entry(self._io, discard_deleted=True)
            if chosen(entry.data_file.file_path)
        ]


class ReplaceAllFiles(_ParentFiles):
    """One OVERWRITE snapshot whose live files are exactly the appended ones.

    Every live file of the parent is recorded as DELETED in this snapshot; no manifest of the parent
    is carried forward, so each snapshot's manifest list stays at two entries. On a commit retry the
    parent is re-read, so the replacement stays correct against whatever was committed meanwhile.
    """

    def _existing_manifests(self) -> list[Any]:
        return []

    def _deleted_entries(self) -> list[ManifestEntry]:
        entries = self._deleted_parent_files(lambda _path: True)
        # The summary (removed files, records) is computed from this set after the manifests.
        self._deleted_data_files = {entry.data_file for entry in entries}
        return entries


class ReplaceSomeFiles(_ParentFiles):
    """One OVERWRITE snapshot whose live files are the parent's less ``removed``, plus the appended ones (a
    compaction: small files replaced by the larger files holding their rows).

    ``key`` maps a manifest's file path to the form ``removed`` is given in. The parent's manifests without a
    removed file are carried forward as they are; the others are rewritten without it. Were a removed file not
    live in the parent (another writer replaced it meanwhile), the commit is refused: the new files would repeat
    rows. Files appended by another writer meanwhile stay live, so the replacement is safe against an append.
    """

    def __init__(self, *args: Any, removed: Collection[str], key: Callable[[str], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._removed = frozenset(removed)
        self._key = key

    def _existing_manifests(self) -> list[Any]:
        existing = []
        for manifest in self._parent_manifests():
            entries = manifest.fetch_manifest_entry(self._io, discard_deleted=True)
            kept = [e for e in entries if self._key(e.data_file.file_path) not in self._removed]
            if manifest.content != ManifestContent.DATA or len(kept) == len(entries):
                existing.append(manifest)
                continue
            if not kept:
                continue
            with self.new_manifest_writer(self.spec(manifest.partition_spec_id)) as writer:
                for entry in kept:
                    writer.add_entry(self._restated(entry, ManifestEntryStatus.EXISTING, entry.snapshot_id))
            existing.append(writer.to_manifest_file())
        return existing

    def _deleted_entries(self) -> list[ManifestEntry]:
        entries = self._deleted_parent_files(lambda path: self._key(path) in self._removed)
        found = {self._key(entry.data_file.file_path) for entry in entries}
        if found != self._removed:
            missing = sorted(self._removed - found)
            raise StorageError(
                f"{len(missing)} file(s) to replace are no longer in the table (another build replaced them "
                f"meanwhile), e.g. {missing[0]}: nothing was changed"
            )
        self._deleted_data_files = {entry.data_file for entry in entries}
        return entries


def append_operation() -> Operation:
    return Operation.APPEND


def overwrite_operation() -> Operation:
    return Operation.OVERWRITE


def operation_for(metadata: TableMetadata) -> Operation:
    return Operation.OVERWRITE if metadata.current_snapshot() is not None else Operation.APPEND


def to_data_files(table: Table, metadata: TableMetadata, uris: Sequence[str]) -> list[DataFile]:
    """Describe staged Parquet files from their footers (statistics included) without reading data.

    Engines write every Parquet column optional; a column the contract requires is required in the table
    schema, and the contract checks have proved it holds no null before publish. So the files are matched
    against the same schema with every column optional (types and names still must match).
    """
    schema = metadata.schema()
    relaxed_schema = Schema(
        *[f.model_copy(update={"required": False}) for f in schema.fields],
        schema_id=schema.schema_id,
    )
    relaxed = metadata.model_copy(
        update={"schemas": [relaxed_schema if s.schema_id == schema.schema_id else s for s in metadata.schemas]}
    )
    try:
        return [parquet_file_to_data_file(table.io, relaxed, uri) for uri in uris]
    except ValueError as exc:  # pyiceberg's schema-compatibility message names the columns
        if "partition" in str(exc):
            raise StorageError(
                f"{table.name()}: a staged file holds rows of several partitions ({exc}); split the files with "
                "TableStore.partition_staged before publishing"
            ) from exc
        raise StorageError(f"{table.name()}: staged files do not match the table schema: {exc}") from exc


def files_in_partitions(table: Table, metadata: TableMetadata, new: Sequence[DataFile]) -> list[DataFile]:
    """The current snapshot's live data files (of the default spec) in the partitions the ``new`` files hold
    rows of: what replacing those partitions deletes. Files without rows touch no partition."""
    snapshot = metadata.current_snapshot()
    touched = {f.partition for f in new if f.record_count > 0}
    if snapshot is None or not touched:
        return []
    spec_id = metadata.default_spec_id
    return [
        entry.data_file
        for manifest in snapshot.manifests(table.io)
        if manifest.content == ManifestContent.DATA and manifest.partition_spec_id == spec_id
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
        if entry.data_file.partition in touched
    ]


# An OVERWRITE snapshot deleting the given files (manifests holding them rewritten) and adding the new ones.
OverwriteFiles = _OverwriteFiles


def live_data_files(table: Table, snapshot: Snapshot) -> tuple[str, ...]:
    return tuple(
        entry.data_file.file_path
        for manifest in snapshot.manifests(table.io)
        if manifest.content == ManifestContent.DATA
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
    )


def referenced_files(table: Table) -> set[str]:
    """Every data file some retained snapshot reads (each manifest is read once). A file a manifest lists as
    deleted is not read by that snapshot: once the snapshots that read it are expired, nothing needs it."""
    seen: set[str] = set()
    files: set[str] = set()
    for snapshot in table.metadata.snapshots:
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                files.add(entry.data_file.file_path)
    return files


# --- schemas -------------------------------------------------------------------------------------


def iceberg_schema_of(arrow_schema: pa.Schema, table: str) -> Schema:
    """The Iceberg schema (ids unassigned) for staged Arrow columns, every column optional; the contract's
    required columns, identifier fields and docs are applied by :func:`apply_contract`."""
    nullable = pa.schema([f.with_nullable(True) for f in arrow_schema], metadata=None)
    try:
        # a pa.Schema visits to a Schema; pyiceberg types the visitor's result loosely
        schema: Schema = visit_pyarrow(nullable, _ConvertToIcebergWithoutIDs(format_version=2))  # type: ignore[assignment]
    except (TypeError, ValueError, UnsupportedPyArrowTypeException) as exc:
        raise StorageError(
            f"{table}: {exc}. Iceberg cannot store this type; cast the column in the transform "
            "(for example TIMESTAMP_NS to TIMESTAMP, JSON to VARCHAR)."
        ) from exc
    return schema


def arrow_schema_of(schema: Schema) -> pa.Schema:
    """The Arrow schema readers see, with plain (not large) string, binary and list types."""
    return pa.schema([pa.field(f.name, _small(f.type), f.nullable) for f in schema_to_pyarrow(schema)])


def _small(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, _small(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _small(f.type), f.nullable) for f in t])
    if pa.types.is_map(t):
        return pa.map_(_small(t.key_type), pa.field(t.item_field.name, _small(t.item_type), t.item_field.nullable))
    return t


def same_type(a: IcebergType, b: IcebergType) -> bool:
    """Structural equality that ignores field ids and nullability."""
    if isinstance(a, PrimitiveType) or isinstance(b, PrimitiveType):
        return a == b
    if isinstance(a, StructType) and isinstance(b, StructType):
        return len(a.fields) == len(b.fields) and all(
            x.name == y.name and same_type(x.field_type, y.field_type) for x, y in zip(a.fields, b.fields, strict=True)
        )
    if isinstance(a, ListType) and isinstance(b, ListType):
        return same_type(a.element_type, b.element_type)
    if isinstance(a, MapType) and isinstance(b, MapType):
        return same_type(a.key_type, b.key_type) and same_type(a.value_type, b.value_type)
    return False


def _promotable(old: IcebergType, new: IcebergType) -> bool:
    if not (isinstance(old, PrimitiveType) and isinstance(new, PrimitiveType)):
        return False
    try:
        promote(old, new)
    except ResolveError:
        return False
    return True


def evolve_schema(tx: Transaction, new: Schema) -> None:
    """Make the table schema equal to ``new`` (names, types, order) inside ``tx``.

    Promotable type changes (int to long, float to double, wider decimals) keep the column's id;
    any other change drops the column and adds it again, so older snapshots keep their own schema.
    """
    current = tx.table_metadata.schema()
    old_fields = {f.name: f for f in current.fields}
    new_fields: list[NestedField] = list(new.fields)
    wanted = {f.name for f in new_fields}

    drop = [name for name in old_fields if name not in wanted]
    promote_to: dict[str, IcebergType] = {}
    for f in new_fields:
        old = old_fields.get(f.name)
        if old is None or same_type(old.field_type, f.field_type):
            continue
        if _promotable(old.field_type, f.field_type):
            promote_to[f.name] = f.field_type
        else:
            drop.append(f.name)
    kept = [name for name in old_fields if name not in drop]
    if not drop and not promote_to and kept == [f.name for f in new_fields]:
        return

    if drop:
        with tx.update_schema(allow_incompatible_changes=True) as update:
            for name in drop:
                update.delete_column(name)
    with tx.update_schema(allow_incompatible_changes=True) as update:
        for f in new_fields:
            if f.name not in kept:
                update.add_column(f.name, f.field_type, required=False)
            elif f.name in promote_to:
                update.update_column(f.name, field_type=promote_to[f.name])
        _reorder(update, [f.name for f in new_fields])


def _reorder(update: Any, names: Iterable[str]) -> None:
    previous: str | None = None
    for name in names:
        if previous is None:
            update.move_first(name)
        else:
            update.move_after(name, previous)
        previous = name


def apply_contract(tx: Transaction, contract: TableContract) -> None:
    """Make the table schema say what the contract says: required columns (and only those), identifier
    fields from the primary key, column docs. No change, no new schema version."""
    current = tx.table_metadata.schema()
    names = {f.name for f in current.fields}
    identifiers = tuple(n for n in contract.identifiers if n in names)
    required = (set(contract.required) | set(identifiers)) & names
    changes = [
        f
        for f in current.fields
        if f.required != (f.name in required) or (contract.docs.get(f.name) or None) != (f.doc or None)
    ]
    if not changes and tuple(current.identifier_field_names()) == identifiers:
        return
    with tx.update_schema(allow_incompatible_changes=True) as update:
        if tuple(current.identifier_field_names()) != identifiers:
            update.set_identifier_fields()  # cleared first: a column leaving the key may become optional
        for f in changes:
            doc = contract.docs.get(f.name)
            update.update_column(f.name, required=f.name in required, doc=doc if doc is not None else "")
    if identifiers and tuple(tx.table_metadata.schema().identifier_field_names()) != identifiers:
        with tx.update_schema() as update:
            update.set_identifier_fields(*identifiers)


def plan_files(
    table: Table, snapshot_id: int, predicates: Sequence[tuple[str, str, tuple[object, ...]]]
) -> list[str] | None:
    """The data files of a snapshot that Iceberg scan planning keeps for the conjunction of ``predicates``; None
    when no predicate names a column of the table. Raises when a literal does not bind to its column's type."""
    from pyiceberg.expressions import (
        And,
        BooleanExpression,
        EqualTo,
        GreaterThan,
        GreaterThanOrEqual,
        In,
        LessThan,
        LessThanOrEqual,
    )
    from pyiceberg.types import TimestampType

    schema = table.schema()
    names = {f.name for f in schema.fields}
    terms: list[BooleanExpression] = []
    for column, op, values in predicates:
        if column not in names:
            continue
        kind = schema.find_field(column).field_type
        literals = [_iso(v) if isinstance(kind, TimestampType) and isinstance(v, str) else v for v in values]
        # pyiceberg's expression classes are typed loosely (mypy misreads their constructors)
        factories: dict[str, Any] = {"=": EqualTo, "<": LessThan, "<=": LessThanOrEqual, ">": GreaterThan,
                                     ">=": GreaterThanOrEqual, "in": In}  # fmt: skip
        terms.append(factories[op](column, literals if op == "in" else literals[0]))
    if not terms:
        return None
    row_filter = terms[0] if len(terms) == 1 else And(*terms)
    return [task.file.file_path for task in table.scan(row_filter=row_filter, snapshot_id=snapshot_id).plan_files()]


def _iso(value: str) -> str:
    """A timestamp literal as DuckDB reads it (``2026-03-02``, ``2026-03-02 10:00``) in ISO form for pyiceberg."""
    text = value.strip()
    if len(text) == 10:
        return text + "T00:00:00"
    text = text.replace(" ", "T", 1)
    return text + ":00" if len(text) == 16 else text


def partitioning_of(metadata: TableMetadata) -> tuple[tuple[str, str], ...]:
    """The table's current partition spec as ``(source column, transform)`` pairs."""
    schema = metadata.schema()
    return tuple((schema.find_column_name(f.source_id) or "", str(f.transform)) for f in metadata.spec().fields)


def apply_partitioning(tx: Transaction, partitioning: tuple[tuple[str, str], ...], *, rewrites_all: bool) -> None:
    """Make the table's default partition spec the contract's (spec evolution: the old spec stays for the files
    written under it). A change is only taken with a snapshot that rewrites every file (``rewrites_all``): an
    increment, a partitions run or a compaction written under a new spec next to files of the old one would
    leave the table half partitioned."""
    from meshplane.storage.partitions import field_name

    current = partitioning_of(tx.table_metadata)
    if current == tuple(partitioning):
        return
    if not rewrites_all and tx.table_metadata.current_snapshot() is not None:
        raise StorageError(
            f"{tx.table_metadata.location}: the partitioning changed ({_spec_text(current)} -> "
            f"{_spec_text(partitioning)}); only a rewrite of the whole table can change it (not an increment, a "
            "partitions run or a compaction): rebuild the table with --full-refresh"
        )
    if tx.table_metadata.spec().fields:
        with tx.update_spec() as update:
            for f in tx.table_metadata.spec().fields:
                update.remove_field(f.name)
    if partitioning:
        with tx.update_spec() as update:
            for column, transform in partitioning:
                update.add_field(column, transform, field_name(column, transform))


def _spec_text(partitioning: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{t}({c})" for c, t in partitioning) or "unpartitioned"


def set_name_mapping(tx: Transaction) -> None:
    """Engines write Parquet without Iceberg field ids; readers (pyiceberg, DuckDB's iceberg_scan, Spark)
    resolve columns through this mapping, kept current as the schema evolves."""
    mapping = tx.table_metadata.schema().name_mapping.model_dump_json()
    if tx.table_metadata.properties.get(TableProperties.DEFAULT_NAME_MAPPING) != mapping:
        tx.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})


def file_uri(path: Path) -> str:
    return path.resolve().as_uri()


def local_path(uri: str) -> Path:
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    raise StorageError(f"data file {uri} is not on the local file system")


class PointerSwap:
    """Commits several tables at once: each table's new metadata file is written first (invisible), then
    every catalog pointer switches in ONE SQL transaction with a compare-and-swap per table, so readers
    see all of them move together or none (a product's ports publish atomically).

    Stands in for the catalog of the tables it commits: pyiceberg's ``Table._do_commit`` calls
    :meth:`commit_table`, which stages instead of committing; :meth:`apply` commits.
    """

    def __init__(self, catalog: Any) -> None:
        self._catalog = catalog
        self._pending: list[tuple[str, str, str | None, str]] = []  # namespace, name, old, new location

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)

    def commit_table(self, table: Table, requirements: tuple[Any, ...], updates: tuple[Any, ...]) -> Any:
        """What SqlCatalog.commit_table does before its SQL: validate, then write the new metadata file."""
        from pyiceberg.catalog import Catalog
        from pyiceberg.table import CommitTableResponse, StagedTable

        catalog = self._catalog
        identifier = table.name()
        namespace = Catalog.namespace_to_string(Catalog.namespace_from(identifier))
        name = Catalog.table_name_from(identifier)
        # The transaction's own table is the base: the store checked it current (one indexed lookup) before
        # the transaction began, and :meth:`apply` switches the pointer only if it still is (compare-and-swap
        # on this metadata location; a table created meanwhile fails its insert), so re-reading the metadata
        # file here would only repeat that check. A table being created has no base.
        current = None if isinstance(table, StagedTable) else table
        staged = catalog._update_and_stage_table(current, identifier, requirements, updates)
        catalog._write_metadata(metadata=staged.metadata, io=staged.io, metadata_path=staged.metadata_location)
        old = current.metadata_location if current is not None else None
        self._pending.append((namespace, name, old, staged.metadata_location))
        return CommitTableResponse(metadata=staged.metadata, metadata_location=staged.metadata_location)

    def apply(self, also: Callable[[Any], None] | None = None) -> None:
        """Switch every staged pointer in one transaction; CommitFailedException if any table moved.

        ``also(session)`` runs in the same transaction after the switch, best effort (in a savepoint: were it
        to fail, the pointers still switch); it writes the caches that must name the new metadata."""
        from pyiceberg.catalog.sql import IcebergTables
        from pyiceberg.exceptions import CommitFailedException, TableAlreadyExistsError
        from sqlalchemy import insert, select, update
        from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError
        from sqlalchemy.orm import Session

        catalog = self._catalog
        with Session(catalog.engine) as session:
            for namespace, name, old, new in self._pending:
                if old is None:
                    try:
                        row = catalog._create_table_row(namespace, name, new)
                        session.execute(insert(IcebergTables).values(**row))
                    except IntegrityError as exc:
                        raise TableAlreadyExistsError(f"Table {namespace}.{name} already exists") from exc
                    except ProgrammingError as exc:  # PostgreSQL's row-level security (storage.credentials)
                        raise _not_this_builders(namespace, name) from exc
                    continue
                this_table = (
                    IcebergTables.catalog_name == catalog.name,
                    IcebergTables.table_namespace == namespace,
                    IcebergTables.table_name == name,
                )
                result: Any = session.execute(
                    update(IcebergTables)
                    .where(*this_table, IcebergTables.metadata_location == old)
                    .values(metadata_location=new, previous_metadata_location=old)
                )
                if result.rowcount < 1:
                    still = session.execute(select(IcebergTables.metadata_location).where(*this_table)).scalar()
                    if still == old:  # visible and unmoved, yet not updated: row-level security refused it
                        raise _not_this_builders(namespace, name)
                    raise CommitFailedException(f"Table has been updated by another process: {namespace}.{name}")
            if also is not None:
                try:
                    with session.begin_nested():
                        also(session)
                except SQLAlchemyError:
                    pass  # the caches are keyed by metadata location: a missing row only costs a load later
            session.commit()
        self._pending.clear()


def _not_this_builders(namespace: str, name: str) -> StorageError:
    return StorageError(
        f"{namespace}.{name}: this builder's catalog role may not publish the {namespace} domain's tables "
        f"(row-level security, see `meshplane platform grant-builder`); build {namespace} with its own "
        "domain's credentials"
    )
