"""Schema migrations with Alembic, run in-process on vaultgate's own engine.

Only ``vaultgate init`` and ``vaultgate migrate`` (and ``restore``, after loading an older
archive) change the schema. Everything else checks it with :func:`require_head`, which reads
the ``alembic_version`` row and the names of the packaged migration files: no Alembic import,
so the check costs one query.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from vaultgate import __version__
from vaultgate.store.db import Store
from vaultgate.store.errors import SchemaMismatch, StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
# Revision ids are four digits and lead the file name ("0004_routing_residency_ownership.py"),
# so the order of revisions is the order of their ids (tests/store/test_migrations.py checks
# that this agrees with Alembic's own chain).
_REVISION_FILE = re.compile(r"^([0-9]{4})_[A-Za-z0-9_]+\.py$")

# A step run in a migration's transaction after the schema is at head (an audit record).
Step = Callable[[Connection], None]
# Any constant works; it names the advisory lock that serialises migrations on PostgreSQL.
_MIGRATION_LOCK = 0x76676D6967


def known_revisions() -> tuple[str, ...]:
    """Every schema revision this vaultgate ships, oldest first."""
    found = (_REVISION_FILE.match(p.name) for p in (MIGRATIONS / "versions").iterdir())
    return tuple(sorted(m.group(1) for m in found if m))


def head() -> str:
    """The newest schema revision this vaultgate knows."""
    return known_revisions()[-1]


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a database's schema is (None: no vaultgate schema yet) against this vaultgate's head."""

    current: str | None
    head: str
    known: tuple[str, ...]

    @property
    def ahead(self) -> bool:
        """Migrated by a newer vaultgate: at a revision this one does not ship."""
        return self.current is not None and self.current not in self.known

    @property
    def pending(self) -> tuple[str, ...]:
        """The revisions ``vaultgate migrate`` would apply, oldest first."""
        if self.ahead:
            return ()
        start = 0 if self.current is None else self.known.index(self.current) + 1
        return self.known[start:]


def current_revision(store: Store) -> str | None:
    """The revision the database's schema is at (None when it was never migrated)."""
    with store.engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        value = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608 - a constant
    return None if value is None else str(value)


def state(store: Store) -> SchemaState:
    """The database's schema revision against this vaultgate's."""
    known = known_revisions()
    return SchemaState(current_revision(store), known[-1], known)


def mismatch(found: SchemaState) -> SchemaMismatch:
    """The one-line refusal for a schema that is not at head."""
    if found.current is None:
        return SchemaMismatch("the database has no vaultgate schema: run `vaultgate init`")
    if found.ahead:
        return SchemaMismatch(
            f"the database schema is at revision {found.current}, which this vaultgate ({__version__}, "
            f"schema {found.head}) does not know: it was migrated by a newer vaultgate; run that version"
        )
    return SchemaMismatch(
        f"the database schema is at revision {found.current}, this vaultgate needs {found.head}: "
        "run `vaultgate migrate` (back up first: `vaultgate backup FILE`)"
    )


def require_head(store: Store) -> None:
    """SchemaMismatch unless the schema is exactly this vaultgate's head (serve never migrates)."""
    found = state(store)
    if found.current != found.head:
        raise mismatch(found)


def alembic_config(store: Store) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    from alembic.config import Config  # imported here: alembic is slow to import and only init/migrate need it

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return cfg


def upgrade(store: Store, *, then: Step | None = None) -> None:
    """Bring the schema to the newest revision (idempotent), then run ``then`` in the same transaction
    (an audit record: the migration and its record commit together or not at all)."""
    from alembic import command

    cfg = alembic_config(store)
    with store.engine.connect() as conn:
        if not store.is_postgres:
            # SQLite alters a table by copying it and dropping the original (batch mode): with foreign
            # keys enforced, dropping a table other rows point at fails (members under member_keys),
            # and an ON DELETE CASCADE would empty its children. Off for the migration only (the
            # pragma is ignored inside a transaction), checked before commit, on again after.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if store.is_postgres:  # two replicas' `vaultgate migrate` at once: the second waits, finds head
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if not store.is_postgres:
                    _check_foreign_keys(conn)
                if then is not None:
                    then(conn)
        finally:
            if not store.is_postgres:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _check_foreign_keys(conn: Connection) -> None:
    """StoreError (the migration rolls back) if a SQLite migration left a row pointing at nothing."""
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").first()
    if broken is not None:
        raise StoreError(f"the migration would leave a row of {broken[0]} pointing at a missing {broken[2]} row")


def revision(store: Store, message: str) -> None:
    """Autogenerate a new migration from the models (a developer tool)."""
    from alembic import command

    cfg = alembic_config(store)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
