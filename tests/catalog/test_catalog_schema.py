"""Migrations from empty, the migrated schema equals the code's tables, opening is idempotent."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from meshplane.catalog import CatalogStore, default_url, migrate
from meshplane.catalog.database import Database
from meshplane.catalog.migrate import head_revision
from meshplane.catalog.schema import VERSION_TABLE, metadata
from meshplane.errors import CatalogError


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'catalog.db'}"
    return str(request.getfixturevalue("pg_database"))


def _extra(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The full-text machinery lives outside the metadata: FTS5 shadow tables, the tsvector column.
    if type_ == "table" and name is not None and (name.startswith("mp_search_fts") or name == VERSION_TABLE):
        return False
    if type_ == "table" and name is not None and not name.startswith("mp_"):
        return False
    if type_ == "column" and name == "tsv":
        return False
    return not (type_ == "index" and name == "ix_mp_search_docs_tsv")


def test_migrates_from_empty_to_the_code_schema(empty_url: str) -> None:
    with CatalogStore.open(empty_url) as store:
        assert store.schema_revision() == head_revision()
        engine = sa.create_engine(empty_url)
        try:
            with engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"include_object": _extra, "compare_type": True})
                assert compare_metadata(context, metadata) == []
                assert not sa.inspect(conn).has_table("alembic_version")  # ours is prefixed
        finally:
            engine.dispose()


def _schema_and_rows(path: Path) -> tuple[list[tuple[str, ...]], dict[str, list[tuple[object, ...]]]]:
    with sqlite3.connect(path) as conn:
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall()
        tables = [name for kind, name, _, _ in schema if kind == "table"]
        rows = {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall()) for name in tables}
    return schema, rows


def test_the_sqlite_dump_is_what_the_migrations_build(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        migrate.upgrade(database, from_dump=False)
        with database.read() as conn:
            dumped = migrate.sqlite_schema(conn)
    finally:
        database.dispose()
    assert dumped == migrate.SQLITE_HEAD.read_text("utf-8"), (
        "the schema the migrations build changed: regenerate the dump with python -m meshplane.catalog.migrations"
    )


def test_a_new_sqlite_catalog_from_the_dump_equals_a_migrated_one_without_importing_alembic(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        migrate.upgrade(database, from_dump=False)
    finally:
        database.dispose()
    probe = (
        "import sys; from meshplane.catalog import CatalogStore\n"
        f"with CatalogStore.open('sqlite:///{tmp_path / 'dumped.db'}') as store: print(store.schema_revision())\n"
        "print('alembic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == [head_revision(), "False"]
    assert _schema_and_rows(tmp_path / "dumped.db") == _schema_and_rows(tmp_path / "migrated.db")


def test_a_dump_of_an_older_head_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "sqlite_head.sql"
    stale.write_text(migrate.SQLITE_HEAD.read_text("utf-8").replace(f"('{head_revision()}')", "('0009')"), "utf-8")
    monkeypatch.setattr(migrate, "SQLITE_HEAD", stale)
    with CatalogStore.open(f"sqlite:///{tmp_path / 'migrated.db'}") as store:
        assert store.schema_revision() == head_revision()  # Alembic built it, not the stale dump
    monkeypatch.undo()
    with CatalogStore.open(f"sqlite:///{tmp_path / 'dumped.db'}"):
        pass
    assert _schema_and_rows(tmp_path / "migrated.db") == _schema_and_rows(tmp_path / "dumped.db")


def test_open_is_idempotent_and_keeps_data(catalog_url: str, make_snapshot) -> None:  # type: ignore[no-untyped-def]
    with CatalogStore.open(catalog_url) as store:
        store.writer.sync_mesh(make_snapshot())
    with CatalogStore.open(catalog_url) as again:
        assert [d.name for d in again.reader.domains()] == ["podcasts", "royalties"]
        assert again.schema_revision() == head_revision()


def test_unmigrated_open_and_bad_urls(tmp_path: Path) -> None:
    with CatalogStore.open(f"sqlite:///{tmp_path / 'raw.db'}", migrate_schema=False) as raw:
        assert raw.schema_revision() is None
    with pytest.raises(CatalogError, match="SQLite or PostgreSQL"):
        CatalogStore.open("mysql://u@h/db")
    with pytest.raises(CatalogError, match="not a database URL"):
        CatalogStore.open("not a url")


def test_default_url_is_absolute_under_dot_meshplane(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    assert url == f"sqlite:///{tmp_path.resolve()}/.meshplane/catalog.db"
    assert url.startswith("sqlite:////")
    with CatalogStore.for_mesh(tmp_path) as store:
        assert store.dialect == "sqlite"
        assert (tmp_path / ".meshplane" / "catalog.db").exists()


def test_shares_a_database_with_pyiceberg(catalog_url: str) -> None:
    from pyiceberg.catalog.sql import SqlCatalog

    with CatalogStore.open(catalog_url) as store:
        iceberg = SqlCatalog("mesh", uri=catalog_url, warehouse="file:///tmp/unused-warehouse")
        iceberg.create_namespace("podcasts")
        assert ("podcasts",) in iceberg.list_namespaces()
        iceberg.engine.dispose()
        assert store.reader.domains() == []


def test_head_revision_read_without_alembic_is_alembics_head() -> None:
    """Start-up reads the head from the scripts' assignments; it must name the head Alembic migrates to."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()
