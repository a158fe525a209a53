"""Bring a catalog database to the newest schema, safely when several processes open it at once."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from meshplane.catalog.database import Database
from meshplane.catalog.schema import VERSION_TABLE
from meshplane.errors import CatalogError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["current_revision", "head_revision", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL advisory lock key serialising catalog migrations.
_PG_LOCK_KEY = 0x6D65736870


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def head_revision() -> str:
    """The newest migration, read from the scripts' ``revision``/``down_revision`` assignments.

    Every command opens the catalog and compares its revision with this one; importing Alembic to find it
    (~0.15 s of start-up) is left to :func:`upgrade` when a migration actually has to run.
    """
    revisions: dict[str, str | None] = {}
    for script in sorted((_MIGRATIONS / "versions").glob("*.py")):
        found: dict[str, object] = {}
        for node in ast.parse(script.read_text("utf-8")).body:
            if isinstance(node, ast.AnnAssign | ast.Assign) and node.value is not None:
                targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
                for target in targets:
                    if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                        found[target.id] = ast.literal_eval(node.value)
        if isinstance(found.get("revision"), str):
            down = found.get("down_revision")
            revisions[str(found["revision"])] = down if isinstance(down, str) else None
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:  # pragma: no cover - the package ships one linear history
        raise CatalogError(f"the catalog's migrations have {len(heads)} heads; expected exactly one")
    return heads.pop()


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
            from alembic import command

            command.upgrade(_config(conn), "head")

    try:
        db.write(migrate)
    except sa.exc.SQLAlchemyError as exc:
        raise CatalogError(f"could not migrate the catalog at {db.url!r}: {exc}") from exc
