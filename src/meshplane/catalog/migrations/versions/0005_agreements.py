"""Agreements between products: an access request can be made for a consuming product.

``mp_access_requests.product`` names the consuming product (``domain.product``) of a data usage agreement;
its grant's grantee is ``product:<domain>.<product>``. ``unmasked`` lists the columns the agreement lets the
product read unmasked (an explicit flag; policies may still forbid it). Person requests leave both empty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("mp_access_requests", sa.Column("product", sa.String(length=255), nullable=True))
    op.add_column("mp_access_requests", sa.Column("unmasked", sa.JSON(), nullable=True))
    op.create_index("ix_mp_access_requests_product", "mp_access_requests", ["product"])
    op.add_column("mp_grants", sa.Column("unmasked", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mp_grants") as batch:
        batch.drop_column("unmasked")
    op.drop_index("ix_mp_access_requests_product", table_name="mp_access_requests")
    with op.batch_alter_table("mp_access_requests") as batch:
        batch.drop_column("unmasked")
        batch.drop_column("product")
