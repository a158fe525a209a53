"""`meshplane plan` against a PostgreSQL catalog nothing was ever published to: it answers from one query
(are there Iceberg table pointers?) and creates nothing, as it does with a SQLite catalog that does not exist
yet; once something is published, the plan compares with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from meshplane.builds import Reason
from meshplane.workspace import Mesh

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def _tables(url: str) -> list[str]:
    with psycopg.connect("postgresql://" + url.removeprefix("postgresql+psycopg://")) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return sorted(row[0] for row in rows)


def test_plan_creates_nothing_in_a_fresh_database_and_compares_once_published(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "media"
    shutil.copytree(ROOT / "examples" / "media", root, ignore=shutil.ignore_patterns("data", ".meshplane"))
    monkeypatch.setenv("MESHPLANE_CATALOG_URL", pg_database)
    with Mesh.open(root) as mesh:
        plan = mesh.plan()
        assert plan.items and all(Reason.NEW in item.reasons for item in plan.items)
        assert "catalog" not in mesh.platform.__dict__  # neither SQLAlchemy's catalog nor a migration ran
    assert _tables(pg_database) == []
    with Mesh.open(root) as mesh:
        mesh.platform.tables.create_shared_tables()  # what the first publish creates
    assert "iceberg_tables" in _tables(pg_database)
    with Mesh.open(root) as mesh:
        assert mesh.plan().items  # still nothing built, now read from the catalog
        assert "catalog" in mesh.platform.__dict__
