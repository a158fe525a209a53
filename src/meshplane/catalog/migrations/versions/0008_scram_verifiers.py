"""SCRAM-SHA-256 verifiers of API tokens, for PostgreSQL clients that authenticate with SCRAM.

``mp_api_tokens.scram_verifier`` holds PostgreSQL's own verifier format
(``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``) of the whole token, computed when the token is
created (the plaintext exists only then). Tokens created before this revision have none: they authenticate
PostgreSQL clients with a cleartext password (over TLS) only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("mp_api_tokens", sa.Column("scram_verifier", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mp_api_tokens") as batch:
        batch.drop_column("scram_verifier")
