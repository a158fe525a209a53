"""Profiles: each successful build records a profile of each output port it published (row count, and per
column nulls, a distinct estimate, min/max, top values, a histogram; sensitive columns by counts only).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mp_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=255), nullable=False),
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.Column("profiled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["mp_runs.run_id"], name="fk_mp_profiles_run_id_mp_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_mp_profiles"),
    )
    op.create_index("ix_mp_profiles_run_id", "mp_profiles", ["run_id"])
    op.create_index("ix_mp_profiles_port_profiled_at", "mp_profiles", ["port", "profiled_at"])


def downgrade() -> None:
    op.drop_index("ix_mp_profiles_port_profiled_at", table_name="mp_profiles")
    op.drop_index("ix_mp_profiles_run_id", table_name="mp_profiles")
    op.drop_table("mp_profiles")
