"""SQLite database files are owner-only: new ones are created 0600 (and their WAL/SHM with them),
wider existing ones are tightened at start with a warning."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from vaultgate.store.db import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def write(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (a INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))


def test_a_new_database_its_wal_and_shm_are_0600_and_its_new_dir_0700(tmp_path: Path, permissive_umask: None) -> None:
    db = tmp_path / "new" / "vaultgate.db"
    store = Store(f"sqlite:///{db}")
    try:
        write(store)
        files = [db, db.with_name("vaultgate.db-wal"), db.with_name("vaultgate.db-shm")]
        assert {f.name: oct(mode(f)) for f in files} == {f.name: oct(0o600) for f in files}
        assert mode(db.parent) == 0o700
    finally:
        store.dispose()


def test_wider_existing_files_are_tightened_with_a_warning(
    tmp_path: Path, permissive_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "vaultgate.db"
    store = Store(f"sqlite:///{db}")
    write(store)
    store.dispose()
    wal = db.with_name("vaultgate.db-wal")
    wal.touch()
    for f in (db, wal):
        f.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="vaultgate.store"):
        store = Store(f"sqlite:///{db}")
    try:
        assert mode(db) == 0o600 and mode(wal) == 0o600
        assert sum("changed to 0600" in r.getMessage() for r in caplog.records) == 2
        write(store)
        assert mode(db.with_name("vaultgate.db-shm")) == 0o600
    finally:
        store.dispose()


def test_an_existing_data_dir_keeps_its_mode(tmp_path: Path, permissive_umask: None) -> None:
    """Only a directory vaultgate creates is made 0700; someone else's (say /var/lib) is left alone."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    store = Store(f"sqlite:///{shared / 'vaultgate.db'}")
    store.dispose()
    assert mode(shared) == 0o755
    assert mode(shared / "vaultgate.db") == 0o600
