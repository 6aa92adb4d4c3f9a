"""Engines and sessions for SQLite (WAL, serialised writers) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from vaultgate.store.errors import StoreError

log = logging.getLogger("vaultgate.store")

# The database holds sealed provider keys, keyed hashes and the audit chain: owner-only.
FILE_MODE = 0o600
DIR_MODE = 0o700
# SQLite's companions of the database file (it creates them with the database file's mode).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
# libpq connection parameters vaultgate sets unless the database URL sets them itself.
# connect_timeout: without it psycopg waits 130 s for a server behind a partition (a blackholed
# connection is accepted and never answered), and the snapshot refresher, the usage writer and the
# change listener wait with it, long after the network healed (tests/gateway/test_partition.py).
# libpq rounds anything below 2 s up to 2. The keepalives and tcp_user_timeout end an established
# connection whose peer vanished (a partition mid-query) within about 25-30 s instead of the
# kernel's 15 minutes of retransmissions. docs/ARCHITECTURE.md, "Dependability under faults".
POSTGRES_CONNECT_DEFAULTS: dict[str, int] = {
    "connect_timeout": 3,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def normalise_url(url: str) -> str:
    """Accept the URLs users have (``postgresql://``, ``postgres://``, ``sqlite:///``) and pick our driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    else:
        raise StoreError(f"unsupported database {parsed.get_backend_name()!r}: use PostgreSQL or SQLite")
    return parsed.render_as_string(hide_password=False)


def _sqlite_setup(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up
    # front; we issue BEGIN IMMEDIATE ourselves so concurrent writers queue, not deadlock.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def restrict_sqlite_files(path: Path) -> None:
    """Make the SQLite database owner-only before SQLite opens it: a new data dir is 0700, a new
    database file 0600 (its -wal/-shm files inherit that mode), wider existing files are tightened."""
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, DIR_MODE)
    # O_EXCL: create it 0600 ourselves, whatever the umask; an existing file is left to the loop below.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        _tighten(file)


def _tighten(file: Path) -> None:
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & ~FILE_MODE:
        try:
            os.chmod(file, FILE_MODE)
        except OSError as exc:  # not ours to change (another owner): say so, keep serving
            log.warning("%s is mode %04o and could not be made 0600: %s", file, mode, exc.strerror)
            return
        log.warning("%s was mode %04o, readable by others: changed to 0600", file, mode)


class Store:
    """A database: engine, session factory, and the dialect-specific bits."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        # hide_parameters: a database error logged anywhere never carries row values.
        kwargs: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
        if self.dialect == "sqlite":
            path = make_url(self.url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                restrict_sqlite_files(Path(path))
        else:
            kwargs.update(pool_size=5, max_overflow=5, pool_pre_ping=True, connect_args=self.connect_params)
        self.engine = create_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def connect_params(self) -> dict[str, int]:
        """The driver parameters vaultgate adds to every PostgreSQL connection (those the URL does not set)."""
        if self.dialect != "postgresql":
            return {}
        given = make_url(self.url).query
        return {name: value for name, value in POSTGRES_CONNECT_DEFAULTS.items() if name not in given}

    @property
    def is_postgres(self) -> bool:
        """Whether this store is PostgreSQL (LISTEN/NOTIFY available)."""
        return self.dialect == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    def notify_change(self, session: Session) -> None:
        """Bump the revision (and NOTIFY on PostgreSQL) inside the caller's transaction."""
        session.execute(text("UPDATE revision SET value = value + 1 WHERE id = 1"))
        if self.is_postgres:
            session.execute(text("SELECT pg_notify('vaultgate_changes', '')"))

    def notify_tokens(self, session: Session) -> None:
        """Bump the short-lived token counter only (replicas reload tokens, not the whole snapshot)."""
        session.execute(text("UPDATE revision SET value = value + 1 WHERE id = 2"))
        if self.is_postgres:
            session.execute(text("SELECT pg_notify('vaultgate_changes', 'tokens')"))

    def revision(self) -> int:
        """The current change counter."""
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT value FROM revision WHERE id = 1")).scalar()
        return int(value or 0)

    def revisions(self) -> tuple[int, int]:
        """(the change counter, the short-lived token counter), read together."""
        with self.engine.connect() as conn:
            found = conn.execute(text("SELECT id, value FROM revision WHERE id IN (1, 2)")).all()
        rows = {int(row[0]): int(row[1] or 0) for row in found}
        return rows.get(1, 0), rows.get(2, 0)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
