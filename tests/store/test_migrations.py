"""Alembic migrations: upgrade from every earlier revision with data in place, and match the models exactly."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from vaultgate.store import migrate
from vaultgate.store.db import Store, normalise_url
from vaultgate.store.models import Base


def test_upgrade_from_first_revision_keeps_rows_and_matches_models(database_url: str) -> None:
    store = Store(database_url)
    cfg = migrate.alembic_config(store)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with store.session() as session:
        session.execute(
            text(
                "INSERT INTO teams (id, name, suspended, created_at) VALUES ('team_1', 'research', false, CURRENT_TIMESTAMP)"
            )
        )
    migrate.upgrade(store)
    migrate.upgrade(store)  # idempotent
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        row = conn.execute(text("SELECT name, policy, expire_overdue_keys FROM teams")).one()
    assert row[0] == "research" and row[2] in (False, 0)
    store.dispose()


def test_database_urls_users_have_are_accepted() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("postgres://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///x.db").startswith("sqlite+pysqlite://")
