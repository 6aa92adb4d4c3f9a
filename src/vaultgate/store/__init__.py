"""Persistence: SQLAlchemy models, Alembic migrations, SQLite and PostgreSQL engines."""

from vaultgate.store.db import Store, normalise_url

# Public: the names re-exported here and these modules (docs/ARCHITECTURE.md, "Public names").
__all__ = ["Store", "backup", "db", "errors", "migrate", "models", "normalise_url"]
