"""Finding PostgreSQL's client tools, and handing them the connection without a password on their command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultgate.store import backup
from vaultgate.store.db import Store
from vaultgate.store.errors import ToolFailed


def test_a_missing_tool_is_one_line_naming_where_it_was_looked_for() -> None:
    with pytest.raises(ToolFailed) as missing:
        backup.find_tool("pg_dump", path="", dirs=())
    assert str(missing.value).startswith(
        "pg_dump was not found on PATH or in /usr/lib/postgresql/*/bin: install the PostgreSQL client tools"
    )
    assert "\n" not in str(missing.value)


def test_a_tool_outside_path_is_found_in_the_versioned_directories(tmp_path: Path) -> None:
    newer, older = tmp_path / "16" / "bin", tmp_path / "15" / "bin"
    for directory in (newer, older):
        directory.mkdir(parents=True)
        (directory / "pg_restore").write_text("#!/bin/sh\n")
        (directory / "pg_restore").chmod(0o755)
    assert backup.find_tool("pg_restore", path="", dirs=(newer, older)) == str(newer / "pg_restore")


def test_the_password_goes_to_the_environment_not_the_connection_uri() -> None:
    store = Store("postgresql://vault%40ops:p%40ss%20word@db.internal:6543/vaultgate?sslmode=require")
    conninfo, env = backup.libpq_target(store)
    assert conninfo == "postgresql://vault%40ops@db.internal:6543/vaultgate?sslmode=require"
    assert env["PGPASSWORD"] == "p@ss word"
    store.dispose()
