"""Teams from the identity provider: ``mp_signin_teams`` holds, per person, the mesh teams their groups mapped
to at their last OpenID Connect sign-in (mesh.yaml ``sign_in: group_teams``) and until when that holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mp_signin_teams",
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("signed_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_mp_signin_teams")),
    )


def downgrade() -> None:
    op.drop_table("mp_signin_teams")
