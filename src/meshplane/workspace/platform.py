"""Where a mesh keeps its state: the metadata database (catalog + Iceberg catalog) and the warehouse."""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path

from meshplane.catalog import CatalogStore, default_url
from meshplane.errors import UsageError
from meshplane.spec import MeshSpec
from meshplane.storage import TableStore

__all__ = ["Platform", "catalog_url_for"]


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
    return default_url(spec.root)


class Platform:
    """Lazily opened stores of one mesh; one per process, shared between threads."""

    def __init__(self, spec: MeshSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()

    @cached_property
    def catalog_url(self) -> str:
        return catalog_url_for(self.spec)

    @cached_property
    def warehouse(self) -> Path:
        configured = Path(self.spec.config.platform.warehouse)
        return configured if configured.is_absolute() else self.spec.root / configured

    @cached_property
    def catalog(self) -> CatalogStore:
        with self._lock:
            return CatalogStore.open(self.catalog_url)

    @cached_property
    def tables(self) -> TableStore:
        # The catalog's migrations run first so both share one freshly created database file.
        _ = self.catalog
        return TableStore(self.catalog_url, self.warehouse)

    def close(self) -> None:
        if "tables" in self.__dict__:
            self.tables.close()
            del self.__dict__["tables"]
        if "catalog" in self.__dict__:
            self.catalog.close()
            del self.__dict__["catalog"]
