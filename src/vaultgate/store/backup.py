"""Copying a whole database out and back in: SQLite's online backup API, PostgreSQL's client tools.

SQLite: :func:`sqlite_copy` reads a consistent copy while the gateway keeps writing (WAL: readers
and the copy never block writers); :func:`sqlite_replace` writes a prepared database into the
configured one in a single transaction, so a failure leaves the old one whole.

PostgreSQL: :func:`pg_dump` runs ``pg_dump --format=custom`` (one snapshot: consistent while
serving); :func:`pg_load` turns an archive into SQL with ``pg_restore`` and runs it with ``psql
--single-transaction`` after dropping vaultgate's tables, so the database holds either the old
contents or the archive's, never a mixture. The password travels in the child's ``PGPASSWORD``,
never on a command line (where ``ps`` would show it).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import URL, make_url

from vaultgate.store.db import FILE_MODE, Store, normalise_url
from vaultgate.store.errors import StoreError, ToolFailed

# Debian and Ubuntu install the client tools per major version outside PATH as well.
TOOL_DIRS = "/usr/lib/postgresql/*/bin"
_BUSY_MS = 10_000


def database_kind(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a database URL (StoreError for anything else)."""
    return make_url(normalise_url(url)).get_backend_name()


def sqlite_path(store: Store) -> Path:
    """The file of a SQLite store (StoreError for an in-memory or URI database)."""
    path = make_url(store.url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise StoreError("only a SQLite database in a file can be backed up or restored")
    return Path(path)


def vaultgate_tables(store: Store, names: Iterable[str]) -> list[str]:
    """Which of ``names`` exist in the database (the tables vaultgate would see)."""
    with store.engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
    return sorted(present.intersection(names))


def _private_file(path: Path) -> None:
    # Created 0600 before SQLite opens it: the copy holds sealed secrets and keyed hashes.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def sqlite_copy(source: Path, destination: Path) -> None:
    """A consistent copy of ``source`` in the new file ``destination`` (self-contained: no -wal file)."""
    _private_file(destination)
    try:
        with _connect(source) as src, _connect(destination) as dst:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot copy the SQLite database {source}: {exc}") from None


def sqlite_replace(prepared: Path, target: Path) -> None:
    """Write the database ``prepared`` over ``target``: one write transaction on ``target``."""
    try:
        with _connect(prepared) as src, _connect(target) as dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot write the SQLite database {target}: {exc}") from None


class _connect:
    """A sqlite3 connection that waits for writers and is closed on exit (sqlite3's own ``with`` only commits)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, timeout=_BUSY_MS / 1000)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *_: object) -> None:
        self.conn.close()


def find_tool(name: str, *, path: str | None = None, dirs: Sequence[Path] | None = None) -> str:
    """A PostgreSQL client tool: on PATH, else in the newest /usr/lib/postgresql/*/bin; ToolFailed if absent."""
    found = shutil.which(name, path=path)
    if found:
        return found
    if dirs is None:
        dirs = sorted(Path("/").glob(TOOL_DIRS.lstrip("/")), key=_major_version, reverse=True)
    for directory in dirs:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ToolFailed(
        f"{name} was not found on PATH or in {TOOL_DIRS}: install the PostgreSQL client tools "
        "(postgresql-client) of your server's version or newer, or see docs/BACKUP.md for your own pg_dump"
    )


def _major_version(directory: Path) -> int:
    version = directory.parent.name
    return int(version) if version.isdigit() else 0


def libpq_target(store: Store) -> tuple[str, dict[str, str]]:
    """(the connection URI without its password, the child's environment with ``PGPASSWORD`` if there is one)."""
    url = make_url(store.url)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    # URL.set(password=None) keeps the password: build the URL without one.
    bare = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    return bare.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    # stdout is vaultgate's (one JSON document with --json): the tools write files, psql's chatter goes nowhere.
    name = Path(command[0]).name
    try:
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)  # noqa: S603
    except OSError as exc:
        raise ToolFailed(f"cannot run {name}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise ToolFailed(f"{name} failed: {_first_line(done.stderr, name)}")


def _first_line(stderr: bytes | None, name: str) -> str:
    """The tool's first error line, without its ``pg_dump: error:`` prefix."""
    for line in (stderr or b"").decode("utf-8", "replace").splitlines():
        line = line.strip()
        for prefix in (f"{name}: error: ", f"{name}: ", "ERROR:  ", "psql:"):
            line = line.removeprefix(prefix)
        if line:
            return line[:300]
    return "no reason given"


def pg_dump(store: Store, destination: Path) -> None:
    """``pg_dump --format=custom`` of the store's database into the new file ``destination`` (0600)."""
    conninfo, env = libpq_target(store)
    _private_file(destination)
    _run([find_tool("pg_dump"), "--format=custom", "--file", str(destination), "--dbname", conninfo], env)


def pg_load(store: Store, archive: Path, drop: Sequence[str], work: Path) -> None:
    """Replace the database's ``drop`` tables with the contents of the pg_dump ``archive``, in one transaction.

    ``work`` is a private directory for the SQL (the archive's data in plain text, removed after).
    """
    conninfo, env = libpq_target(store)
    script = work / "restore.sql"
    prelude = work / "drop.sql"
    _private_file(script)
    _private_file(prelude)
    try:
        # The SQL is written whole first: psql reading a pg_restore that died half-way would commit half.
        _run([find_tool("pg_restore"), "--no-owner", "--no-privileges", "--file", str(script), str(archive)], env)
        tables = ", ".join('"' + name.replace('"', '""') + '"' for name in drop)
        prelude.write_text(f"SET client_min_messages = warning;\nDROP TABLE IF EXISTS {tables} CASCADE;\n")
        _run(
            [
                find_tool("psql"),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                "--file",
                str(prelude),
                "--file",
                str(script),
                "--dbname",
                conninfo,
            ],
            env,
        )
    finally:
        script.unlink(missing_ok=True)
        prelude.unlink(missing_ok=True)
