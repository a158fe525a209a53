"""Alembic environment: always online, on the connection (and transaction) the caller holds."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from meshplane.catalog.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("catalog migrations run programmatically: use meshplane.catalog.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
