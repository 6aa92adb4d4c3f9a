"""Schema migrations with Alembic, run in-process on vaultgate's own engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vaultgate.store.db import Store

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(store: Store) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    from alembic.config import Config  # imported here: alembic is slow to import and only init/serve need it

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return cfg


def upgrade(store: Store) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    from alembic import command

    cfg = alembic_config(store)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def revision(store: Store, message: str) -> None:
    """Autogenerate a new migration from the models (a developer tool)."""
    from alembic import command

    cfg = alembic_config(store)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
