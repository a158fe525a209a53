"""Bring a catalog database to the newest schema, safely when several processes open it at once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from meshplane.catalog.database import Database
from meshplane.catalog.schema import VERSION_TABLE
from meshplane.errors import CatalogError

__all__ = ["current_revision", "head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL advisory lock key serialising catalog migrations.
_PG_LOCK_KEY = 0x6D65736870


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its migrations
        raise CatalogError("the catalog's migrations are missing from the installed package")
    return head


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    version = sa.table(VERSION_TABLE, sa.column("version_num"))
    return conn.execute(sa.select(version.c.version_num)).scalar_one_or_none()


def upgrade(db: Database) -> None:
    """Migrate to head; cheap when already there (one read), serialised between processes otherwise."""
    with db.read() as conn:
        if current_revision(conn) == head_revision():
            return

    def migrate(conn: Connection) -> None:
        if db.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        # Re-check under the lock (BEGIN IMMEDIATE on SQLite): another process may have migrated.
        if current_revision(conn) != head_revision():
            command.upgrade(_config(conn), "head")

    try:
        db.write(migrate)
    except sa.exc.SQLAlchemyError as exc:
        raise CatalogError(f"could not migrate the catalog at {db.url!r}: {exc}") from exc
