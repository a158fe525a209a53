"""Notifications: the outbox (``mp_notifications``), one delivery per subscribed channel (``mp_deliveries``),
and the delivery log with every attempt's outcome (``mp_delivery_attempts``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 16:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mp_notifications",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_mp_notifications_dedupe_key")),
    )
    op.create_index("ix_mp_notifications_kind", "mp_notifications", ["kind"])
    op.create_index("ix_mp_notifications_created_at", "mp_notifications", ["created_at"])
    op.create_table(
        "mp_deliveries",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("notification_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("channel_type", sa.String(length=255), nullable=False),
        sa.Column("subscriber", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["mp_notifications.id"], name=op.f("fk_mp_deliveries_notification_id_mp_notifications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_deliveries")),
    )
    op.create_index("ix_mp_deliveries_notification_id", "mp_deliveries", ["notification_id"])
    op.create_index("ix_mp_deliveries_status_next_attempt_at", "mp_deliveries", ["status", "next_attempt_at"])
    op.create_table(
        "mp_delivery_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["mp_deliveries.id"], name=op.f("fk_mp_delivery_attempts_delivery_id_mp_deliveries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mp_delivery_attempts")),
    )
    op.create_index("ix_mp_delivery_attempts_delivery_id", "mp_delivery_attempts", ["delivery_id"])


def downgrade() -> None:
    op.drop_table("mp_delivery_attempts")
    op.drop_table("mp_deliveries")
    op.drop_table("mp_notifications")
