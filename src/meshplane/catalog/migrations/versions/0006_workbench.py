"""The portal's workbench: each person's SQL query history (``mp_query_history``) and saved queries
(``mp_saved_queries``), and product annotations owners edit in the portal (``mp_annotations``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 19:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mp_query_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sql_text", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_query_history")),
    )
    op.create_index("ix_mp_query_history_username_at", "mp_query_history", ["username", "at"])
    op.create_table(
        "mp_saved_queries",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("sql_text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_saved_queries")),
        sa.UniqueConstraint("username", "name", name=op.f("uq_mp_saved_queries_username_name")),
    )
    op.create_table(
        "mp_annotations",
        sa.Column("product", sa.String(length=255), nullable=False),
        sa.Column("field", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("product", "field", name=op.f("pk_mp_annotations")),
    )


def downgrade() -> None:
    op.drop_table("mp_annotations")
    op.drop_table("mp_saved_queries")
    op.drop_index("ix_mp_query_history_username_at", table_name="mp_query_history")
    op.drop_table("mp_query_history")
