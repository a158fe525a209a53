"""PostgreSQL search: a narrow index table instead of the tsvector column on the wide search rows.

Counting facets and ranking visited every matching row of ``mp_search_docs`` (about 550 bytes each, with
descriptions); ``mp_search_fts_pg`` keeps only what matching, facet counts and tiered ranking need: the
row id, its facet combination, the whole weighted tsvector and two small ones (name; name and keywords)
with their own GIN indexes, so most pages rank only the name tier. It is filled after each sync, like
SQLite's FTS5 table. Nothing changes on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 06:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_UPGRADE = (
    "DROP INDEX IF EXISTS ix_mp_search_docs_tsv",
    "ALTER TABLE mp_search_docs DROP COLUMN IF EXISTS tsv",
    """
    CREATE TABLE mp_search_fts_pg (
        id integer PRIMARY KEY,
        combo integer NOT NULL,
        tsv tsvector NOT NULL,
        tsv_name tsvector NOT NULL,
        tsv_key tsvector NOT NULL
    )
    """,
    "CREATE INDEX ix_mp_search_fts_pg_tsv ON mp_search_fts_pg USING gin (tsv)",
    "CREATE INDEX ix_mp_search_fts_pg_tsv_name ON mp_search_fts_pg USING gin (tsv_name)",
    "CREATE INDEX ix_mp_search_fts_pg_tsv_key ON mp_search_fts_pg USING gin (tsv_key)",
    # Fill it from rows synced before this migration.
    """
    INSERT INTO mp_search_fts_pg (id, combo, tsv, tsv_name, tsv_key)
    SELECT id, dense_rank() OVER (ORDER BY facet_key),
        setweight(to_tsvector('simple', mp_words(name_text)), 'A')
        || setweight(to_tsvector('simple', mp_words(keyword_text)), 'B')
        || setweight(to_tsvector('simple', mp_words(owner_text)), 'C')
        || setweight(to_tsvector('simple', mp_words(body_text)), 'D'),
        to_tsvector('simple', mp_words(name_text)),
        to_tsvector('simple', mp_words(name_text || ' ' || keyword_text))
    FROM mp_search_docs
    """,
)

_DOWNGRADE = (
    "DROP TABLE mp_search_fts_pg",
    """
    ALTER TABLE mp_search_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', mp_words(name_text)), 'A')
        || setweight(to_tsvector('simple', mp_words(keyword_text)), 'B')
        || setweight(to_tsvector('simple', mp_words(owner_text)), 'C')
        || setweight(to_tsvector('simple', mp_words(body_text)), 'D')
    ) STORED
    """,
    "CREATE INDEX ix_mp_search_docs_tsv ON mp_search_docs USING gin (tsv)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _DOWNGRADE:
            op.execute(statement)
