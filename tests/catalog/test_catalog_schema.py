"""Migrations from empty, the migrated schema equals the code's tables, opening is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from meshplane.catalog import CatalogStore, default_url, migrate
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
