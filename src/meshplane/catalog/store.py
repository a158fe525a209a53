"""The catalog store: one database, a reader and a writer over it, migrated on open."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from meshplane.catalog import migrate
from meshplane.catalog.database import Database, default_url
from meshplane.catalog.metrics import MetricsStore
from meshplane.catalog.notifications import NotificationStore
from meshplane.catalog.reader import CatalogReader
from meshplane.catalog.workbench import SignInTeams, WorkbenchStore
from meshplane.catalog.writer import CatalogWriter

__all__ = ["CatalogStore"]


class CatalogStore:
    """Open with :meth:`open` (a URL) or :meth:`for_mesh` (the default SQLite file of a mesh).

    Safe to share between threads; each process opens its own. ``reader`` and ``writer`` are the
    only ways in, so a read-only consumer (the portal's pages) can be handed just the reader.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self.reader = CatalogReader(db)
        self.writer = CatalogWriter(db)
        self.notifications = NotificationStore(db)
        self.metrics = MetricsStore(db)
        self.workbench = WorkbenchStore(db)
        self.signin_teams = SignInTeams(db)

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> CatalogStore:
        """``sqlite:////abs/path/catalog.db`` or ``postgresql+psycopg://user@host:5432/db``."""
        db = Database(url)
        try:
            if migrate_schema:
                migrate.upgrade(db)
        except BaseException:
            db.dispose()
            raise
        return cls(db)

    @classmethod
    def for_mesh(cls, root: str | Path) -> CatalogStore:
        """The default catalog of the mesh at ``root``: ``<root>/.meshplane/catalog.db``."""
        return cls.open(default_url(root))

    @property
    def url(self) -> str:
        return self._db.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def schema_revision(self) -> str | None:
        with self._db.read() as conn:
            return migrate.current_revision(conn)

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
