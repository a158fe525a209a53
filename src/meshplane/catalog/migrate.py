"""Bring a catalog database to the newest schema, safely when several processes open it at once.

An existing catalog is migrated by Alembic. A new SQLite catalog is created from ``migrations/sqlite_head.sql``
instead: the schema the migrations build, dumped once (as Rails loads ``structure.sql`` into a new database rather
than replaying every migration). Importing Alembic and replaying ten migrations cost a fresh workspace's first
command ~0.16 s; the dump takes 0.03 s. A test keeps the dump equal to what the migrations build
(regenerate it with ``python -m meshplane.catalog.migrations``).
"""

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

__all__ = ["SQLITE_HEAD", "current_revision", "head_revision", "sqlite_schema", "upgrade", "write_sqlite_head"]

_MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_HEAD = _MIGRATIONS / "sqlite_head.sql"
_FTS5_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")
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


def sqlite_schema(conn: Connection) -> str:
    """The SQLite catalog's schema as a script: its CREATE statements in the order they ran (SQLite creates the
    indexes of its constraints and FTS5's shadow tables itself), then its revision."""
    rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid").all()
    virtual = [name for name, sql in rows if sql.upper().startswith("CREATE VIRTUAL TABLE")]
    shadows = {v + suffix for v in virtual for suffix in _FTS5_SHADOWS}
    statements = [f"{sql};" for name, sql in rows if name not in shadows]
    revision = current_revision(conn)
    statements.append(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{revision}');")
    return "\n".join(statements) + "\n"


def _create_sqlite_head(conn: Connection) -> bool:
    """Create a new SQLite catalog from the dumped head schema; False when the dump is not of this head."""
    import sqlite3

    script = SQLITE_HEAD.read_text("utf-8") if SQLITE_HEAD.is_file() else ""
    if f"VALUES ('{head_revision()}');" not in script:
        return False  # a release whose dump fell behind: Alembic builds the schema
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):  # a trigger's body holds semicolons of its own
            conn.exec_driver_sql(statement)
            statement = ""
    return True


def upgrade(db: Database, *, from_dump: bool = True) -> None:
    """Migrate to head; cheap when already there (one read), serialised between processes otherwise. A new SQLite
    catalog is created from the dumped head schema (``from_dump``; the tests compare both ways)."""
    with db.read() as conn:
        if current_revision(conn) == head_revision():
            return

    def migrate(conn: Connection) -> None:
        if db.dialect == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        # Re-check under the lock (BEGIN IMMEDIATE on SQLite): another process may have migrated.
        if current_revision(conn) != head_revision():
            fresh = db.dialect == "sqlite" and not sa.inspect(conn).get_table_names()
            if fresh and from_dump and _create_sqlite_head(conn):
                return
            from alembic import command

            command.upgrade(_config(conn), "head")

    try:
        db.write(migrate)
    except sa.exc.SQLAlchemyError as exc:
        raise CatalogError(f"could not migrate the catalog at {db.url!r}: {exc}") from exc


def write_sqlite_head() -> Path:
    """Write the dump of the head schema that new SQLite catalogs are created from (after a new migration)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{folder}/catalog.db")
        try:
            upgrade(database, from_dump=False)
            with database.read() as connection:
                SQLITE_HEAD.write_text(sqlite_schema(connection), "utf-8")
        finally:
            database.dispose()
    return SQLITE_HEAD
