"""A key/value table for facts about the catalog itself (first: the hash of the last synced mesh state).

``Mesh.publish`` stores the hash of everything ``sync_mesh`` derives its rows from, in the same transaction
as the rows; a build whose mesh has not changed since then skips the sync (and its column lineage).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 07:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mp_settings",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_mp_settings")),
    )


def downgrade() -> None:
    op.drop_table("mp_settings")
