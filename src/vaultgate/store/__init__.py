"""Persistence: SQLAlchemy models, Alembic migrations, SQLite and PostgreSQL engines."""

from vaultgate.store.db import Store, normalise_url

__all__ = ["Store", "normalise_url"]
