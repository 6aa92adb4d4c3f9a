"""Alembic environment: runs on the connection vaultgate hands over (see store/migrate.py)."""

from __future__ import annotations

from alembic import context

from vaultgate.store.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
