"""An index on the audit log's action and id: the ownership ledger asks for the newest baseline or approval
event on every page (``CatalogReader.audit_stamp``), which must not scan an audit log that grows with every query.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:25:00.000000
"""

from __future__ import annotations

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_mp_audit_log_action_id", "mp_audit_log", ["action", "id"])


def downgrade() -> None:
    op.drop_index("ix_mp_audit_log_action_id", table_name="mp_audit_log")
