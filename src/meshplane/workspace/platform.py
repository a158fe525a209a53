"""Where a mesh keeps its state: the metadata database (catalog + Iceberg catalog) and the warehouse."""

from __future__ import annotations

import contextlib
import os
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshplane.errors import CatalogUnavailable, StorageError, UsageError
from meshplane.spec import MeshSpec
from meshplane.storage import TableStore
from meshplane.storage.objectstore import S3Location, is_remote, s3_location

if TYPE_CHECKING:
    from meshplane.catalog import CatalogStore

__all__ = ["Platform", "catalog_url_for", "has_catalog"]


def catalog_url_for(spec: MeshSpec) -> str:
    """The metadata database URL: from the environment variable mesh.yaml names, else SQLite under .meshplane/."""
    variable = spec.config.platform.catalog_url_env
    if variable:
        url = os.environ.get(variable)
        if url:
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        if os.environ.get("MESHPLANE_REQUIRE_CATALOG_URL"):
            raise UsageError(f"mesh.yaml names catalog_url_env {variable}, but it is not set")
    return _default_url(spec.root)


def _default_url(root: Path) -> str:
    """What :func:`meshplane.catalog.default_url` answers (folder created), without importing the catalog
    package (SQLAlchemy and Alembic, ~0.3 s) where only the table store is needed, as in ``meshplane plan``."""
    folder = Path(root).resolve() / ".meshplane"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'catalog.db'}"


def _existing_sqlite(url: str) -> bool:
    """An SQLite database file that already holds data (its schema was created by an earlier run)."""
    if not url.startswith("sqlite:///"):
        return False
    path = Path(url.removeprefix("sqlite:///"))
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _no_table_pointers(url: str) -> bool:
    """Whether the PostgreSQL database at ``url`` lacks the Iceberg catalog's table of pointers (created by the
    first publish); one query over psycopg. Unreachable or refused: False, and the catalog's own path reports it."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            row = conn.execute("SELECT to_regclass('iceberg_tables') IS NULL").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def has_catalog(spec: MeshSpec) -> bool:
    """Whether the mesh has a catalog to compare with; `meshplane check` must never create one.

    A ``catalog_url_env`` that is not set means the default SQLite file (see :func:`catalog_url_for`), so only
    a set variable counts as a catalog that may exist elsewhere.
    """
    variable = spec.config.platform.catalog_url_env
    if variable and (os.environ.get(variable) or os.environ.get("MESHPLANE_REQUIRE_CATALOG_URL")):
        return True
    return (spec.root / ".meshplane" / "catalog.db").is_file()


class Platform:
    """Lazily opened stores of one mesh; one per process, shared between threads."""

    def __init__(self, spec: MeshSpec, *, catalog_url: str | None = None) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        if catalog_url is not None:  # e.g. ``sqlite://`` (in memory): `check` without a catalog creates none
            self.__dict__["catalog_url"] = catalog_url

    @cached_property
    def catalog_url(self) -> str:
        return catalog_url_for(self.spec)

    @cached_property
    def object_store(self) -> S3Location | None:
        """The warehouse's bucket prefix when ``platform.warehouse`` is ``s3://...`` (None: a local folder)."""
        platform = self.spec.config.platform
        if not is_remote(platform.warehouse):
            return None
        url = None
        if platform.warehouse_connection:
            connection = self.spec.config.connections.get(platform.warehouse_connection)
            if connection is None:
                raise UsageError(
                    f"mesh.yaml: platform.warehouse_connection names {platform.warehouse_connection!r}, "
                    "which is not declared under connections:"
                )
            url = os.environ.get(connection.env)
            if not url:
                raise UsageError(
                    f"the warehouse connection {platform.warehouse_connection!r} reads ${connection.env}, "
                    "which is not set"
                )
        try:
            return s3_location(platform.warehouse, connection=url)
        except StorageError as error:
            raise UsageError(f"mesh.yaml: platform.warehouse: {error}") from None

    @cached_property
    def warehouse(self) -> Path:
        """The local warehouse folder; with S3, the local folder runs are staged in before upload."""
        if self.object_store is not None:
            return self.spec.root / ".meshplane" / "staging"
        configured = Path(self.spec.config.platform.warehouse)
        return configured if configured.is_absolute() else self.spec.root / configured

    @cached_property
    def catalog(self) -> CatalogStore:
        from meshplane.catalog import CatalogStore

        with self._lock:
            store = CatalogStore.open(self.catalog_url)
        # Whatever command opens the catalog first marks the runs whose process died as interrupted, so
        # `meshplane runs` never shows a killed build as still running. A read-only catalog keeps them.
        with contextlib.suppress(CatalogUnavailable):
            store.writer.mark_interrupted_runs()
        return store

    def never_published(self) -> bool:
        """True when no table was ever published: the mesh's SQLite metadata database does not exist yet, or its
        PostgreSQL database holds no Iceberg table pointers yet. A plan then answers without creating (or
        migrating) the database, and without loading SQLAlchemy and the catalog."""
        url = self.catalog_url
        if "tables" in self.__dict__ or "catalog" in self.__dict__:
            return False
        if url.startswith("sqlite:///"):
            return not Path(url.removeprefix("sqlite:///")).exists()
        if url.startswith("postgresql+psycopg://"):
            return _no_table_pointers("postgresql://" + url.removeprefix("postgresql+psycopg://"))
        return False

    @cached_property
    def tables(self) -> TableStore:
        # The catalog's migrations run first so both share one freshly created database file; an existing
        # SQLite file is opened directly (the table store keeps its own tables; the catalog migrates on first use).
        if not _existing_sqlite(self.catalog_url):
            _ = self.catalog
        return TableStore(
            self.catalog_url,
            self.object_store or self.warehouse,
            lease_seconds=self.spec.config.platform.build_lease_seconds,
            scratch=self.warehouse,
        )

    def builder_s3_policy(self, domain: str) -> dict[str, Any]:
        """The IAM policy of ``domain``'s builder key: read the warehouse, write only below its domain."""
        from meshplane.storage.credentials import s3_builder_policy

        if self.object_store is None:
            raise UsageError(
                "platform.warehouse is a local folder: per-domain storage keys need the warehouse in a bucket "
                "(platform.warehouse: s3://BUCKET/PREFIX)"
            )
        return s3_builder_policy(self.object_store, domain)

    def grant_builder(self, domain: str, role: str) -> list[str]:
        """Let the PostgreSQL ``role`` publish ``domain``'s tables, and only those (row-level security)."""
        from meshplane.storage.credentials import grant_builder

        self.tables.create_shared_tables()
        return grant_builder(self.catalog_url, domain, role)

    def close(self) -> None:
        if "tables" in self.__dict__:
            self.tables.close()
            del self.__dict__["tables"]
        if "catalog" in self.__dict__:
            self.catalog.close()
            del self.__dict__["catalog"]
