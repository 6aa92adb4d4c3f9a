"""``vaultgate backup`` and ``vaultgate restore`` on SQLite and PostgreSQL: a round trip through a real
gateway and the official SDK, and every refusal as one line with the database left as it was."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import orjson
import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from tests.conftest import Stack, make_settings
from tests.support import cli as commands
from tests.support.schema_0001 import create_0001
from tests.support.servers import ThreadedServer

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import audit_trail, bootstrap, members
from vaultgate.services import backup as backups
from vaultgate.services.backup_archive import PAYLOADS
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store import migrate
from vaultgate.store.db import Store
from vaultgate.store.models import AuditEvent, Member, MemberKey, UsageEvent
from vaultgate.vault import MasterKey
from vaultgate.vault.masterkey import read_key_file

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def vg(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``vaultgate`` as an operator runs it, against these settings' data dir and database."""
    env = {**os.environ, "VAULTGATE_DATABASE_URL": settings.resolved_database_url}
    env.pop("VAULTGATE_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", "--data-dir", str(settings.data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def wipe(settings: Settings) -> None:
    """The database is lost: the SQLite files deleted, or every PostgreSQL table dropped."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        path = Path(str(make_url(url).database))
        for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            file.unlink(missing_ok=True)
        return
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def audit_actions(settings: Settings) -> list[str]:
    """The audit log's actions, after checking that its chain is intact."""
    cp = bootstrap.open_control_plane(settings)
    count, broken = audit_trail.verify(cp, LOCAL_OPERATOR)
    with cp.store.session() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    cp.store.dispose()
    assert broken is None and count == len(actions)
    return actions


def test_backup_while_serving_then_restore_into_a_lost_database(stack: Stack, tmp_path: Path) -> None:
    stack.member("alice")
    key = stack.key("alice")
    openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0).chat.completions.create(**CHAT)  # type: ignore[call-overload]
    used = stack.usage(1)
    assert len(used) == 1

    archive = tmp_path / "backups" / "vaultgate.backup"
    archive.parent.mkdir()
    made = vg(stack.settings, "backup", str(archive))  # the gateway keeps serving meanwhile
    assert made.returncode == 0, made.stderr
    assert "master key" in made.stderr and "not in the archive" in made.stderr
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert sorted(p.name for p in archive.parent.iterdir()) == ["vaultgate.backup"]  # no staging left behind
    content = gzip.decompress(archive.read_bytes())
    for master in read_key_file(stack.settings.resolved_master_key_file).keys:
        assert master.material not in content and master.encoded().encode() not in content

    stack.gateway.stop()
    stack.cp.store.dispose()
    wipe(stack.settings)
    restored = vg(stack.settings, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert restored.stderr.startswith("Restored ")

    gateway = ThreadedServer(build(stack.settings)).start()
    try:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        reply = client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert reply.choices[0].message.content == "upstream says: hello"
        assert stack.upstream.last.headers["authorization"] == f"Bearer {stack.upstream_key}"
        store = Store(stack.settings.resolved_database_url)
        deadline = time.monotonic() + 10
        while True:
            with store.session() as session:
                rows = list(session.scalars(select(UsageEvent).order_by(UsageEvent.id)))
            if len(rows) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        store.dispose()
    finally:
        gateway.stop()
    assert [(r.request_id, r.prompt_tokens, r.completion_tokens) for r in rows[:1]] == [
        (used[0].request_id, used[0].prompt_tokens, used[0].completion_tokens)
    ]
    assert len(rows) == 2
    actions = audit_actions(stack.settings)
    assert actions[-2:] == ["vaultgate.backup", "vaultgate.restore"]


@pytest.fixture
def cli() -> Callable[..., tuple[int, str]]:
    """``vaultgate`` run in this process (as its entry point does): (exit code, stderr)."""

    def run(settings: Settings, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = commands.run_for(settings, *args, env=env)
        return result.returncode, result.stderr

    return run


def rewritten(archive: Path, to: Path, *, manifest: dict[str, object], payload: bytes | None = None) -> Path:
    """A copy of ``archive`` with manifest fields replaced (and the database, with a matching checksum)."""
    with tarfile.open(archive, "r:gz") as tar:
        members_ = tar.getmembers()
        doc = orjson.loads(tar.extractfile(members_[0]).read())  # type: ignore[union-attr]
        data = tar.extractfile(members_[1]).read()  # type: ignore[union-attr]
    if payload is not None:
        data = payload
        manifest = {**manifest, "payload_sha256": hashlib.sha256(data).hexdigest(), "payload_bytes": len(data)}
    doc |= manifest
    with tarfile.open(to, "w:gz") as tar:
        for name, body in (("manifest.json", orjson.dumps(doc)), (str(doc["payload"]), data)):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return to


def database_state(settings: Settings) -> tuple[list[str], int, str]:
    """(member names, audit records, last audit hash): what a refused restore must leave as it was."""
    store = Store(settings.resolved_database_url)
    with store.session() as session:
        names = sorted(session.scalars(select(Member.name)))
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    store.dispose()
    assert last is not None
    return names, last.seq, last.hash


@pytest.fixture
def backed_up(tmp_path: Path, database_url: str) -> Iterator[tuple[Settings, Path]]:
    """An initialised vaultgate with member alice, an archive of it, and member bob added after the backup."""
    settings = make_settings(tmp_path, database_url)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    members.add(cp, LOCAL_OPERATOR, "alice")
    archive = tmp_path / "good.backup"
    backups.backup(settings, archive)
    members.add(cp, LOCAL_OPERATOR, "bob")
    cp.store.dispose()
    yield settings, archive


def test_restore_refusals_are_one_line_and_change_nothing(
    backed_up: tuple[Settings, Path], tmp_path: Path, cli: Callable[..., tuple[int, str]]
) -> None:
    settings, archive = backed_up
    before = database_state(settings)
    kind = "sqlite" if settings.resolved_database_url.startswith("sqlite") else "postgresql"
    other = "postgresql" if kind == "sqlite" else "sqlite"
    truncated = tmp_path / "truncated.backup"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    flipped = bytearray(archive.read_bytes())
    flipped[len(flipped) * 2 // 3] ^= 0xFF
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(bytes(flipped))
    not_archive = tmp_path / "notes.txt"
    not_archive.write_text("not a backup\n")
    cases: list[tuple[list[str], dict[str, str], str]] = [
        ([str(archive)], {}, f"the configured {kind} database already holds vaultgate data"),
        (
            [str(archive), "--force"],
            {"VAULTGATE_MASTER_KEY": MasterKey.generate().encoded()},
            "was sealed with another master key than the configured one: restoring it needs the master key in use",
        ),
        (
            [str(archive), "--force"],
            {"VAULTGATE_MASTER_KEY_FILE": str(tmp_path / "absent.key")},
            "needs the master key in use when it was made (key id ",
        ),
        ([str(truncated), "--force"], {}, "truncated.backup is not an intact vaultgate backup: "),
        ([str(damaged), "--force"], {}, "damaged.backup is not an intact vaultgate backup: "),
        ([str(not_archive), "--force"], {}, "notes.txt is not an intact vaultgate backup: "),
        (
            [str(rewritten(archive, tmp_path / "newer.backup", manifest={"schema_revision": "0999"})), "--force"],
            {},
            f"holds schema revision 0999, which this vaultgate (0.1.0, schema {migrate.head()}) does not know",
        ),
        (
            [
                str(
                    rewritten(
                        archive, tmp_path / "kind.backup", manifest={"database": other, "payload": PAYLOADS[other]}
                    )
                ),
                "--force",
            ],
            {},
            f"kind.backup is a {other} backup and the configured database is {kind}: restore it into a {other} database",
        ),
        (
            [str(rewritten(archive, tmp_path / "junk.backup", manifest={}, payload=b"junk" * 100)), "--force"],
            {},
            "archive's database cannot be used" if kind == "sqlite" else "pg_restore failed: ",
        ),
    ]
    for args, env, expected in cases:
        code, err = cli(settings, "restore", *args, env=env)
        assert code == 1, (args, err)
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("vaultgate: error: ") and expected in err, err
        assert database_state(settings) == before, args

    code, err = cli(settings, "restore", str(archive), "--force")
    assert code == 0, err
    names, _, _ = database_state(settings)
    assert names == ["admin", "alice"]  # back to the backup: bob came later
    assert audit_actions(settings)[-2:] == ["vaultgate.backup", "vaultgate.restore"]


def test_backup_refuses_to_overwrite_unless_forced(
    backed_up: tuple[Settings, Path], cli: Callable[..., tuple[int, str]]
) -> None:
    settings, archive = backed_up
    first = archive.read_bytes()
    code, err = cli(settings, "backup", str(archive))
    assert (
        code == 1
        and err.strip() == f"vaultgate: error: {archive} exists: choose another file name, or --force to replace it"
    )
    assert archive.read_bytes() == first
    code, err = cli(settings, "backup", str(archive), "--force")
    assert code == 0, err
    assert archive.read_bytes() != first and stat.S_IMODE(archive.stat().st_mode) == 0o600


def test_an_archive_of_an_older_schema_is_restored_and_migrated(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)
    legacy = create_0001(settings, "http://127.0.0.1:9")
    archive = tmp_path / "old.backup"
    made = backups.backup(settings, archive)  # an older schema is backed up before it is migrated
    assert made.schema_revision == "0001"
    wipe(settings)
    result = backups.restore(settings, archive)
    assert (result.archive_revision, result.schema_revision, result.replaced) == ("0001", migrate.head(), False)
    cp = bootstrap.open_control_plane(settings)  # at head: serve would start
    with cp.store.session() as session:
        displays = sorted(session.scalars(select(MemberKey.display)))
        usage = len(list(session.scalars(select(UsageEvent.id))))
    cp.store.dispose()
    assert len(displays) == 2 and usage == legacy.usage_rows
    assert audit_actions(settings)[-3:] == ["key.revoke", "vaultgate.backup", "vaultgate.restore"]


def postgres_vaultgate(tmp_path: Path, url: str) -> Settings:
    settings = make_settings(tmp_path, url)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    members.add(cp, LOCAL_OPERATOR, "alice")
    cp.store.dispose()
    return settings


@pytest.mark.postgres
def test_a_postgresql_restore_that_fails_half_way_changes_nothing(
    tmp_path: Path, postgres_url: str, cli: Callable[..., tuple[int, str]]
) -> None:
    settings = postgres_vaultgate(tmp_path, postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # a table of someone else's, in the archive too
        conn.execute("CREATE TABLE notes (id int)")
    archive = tmp_path / "pg.backup"
    backups.backup(settings, archive)
    cp = bootstrap.open_control_plane(settings)
    members.add(cp, LOCAL_OPERATOR, "bob")
    cp.store.dispose()
    before = database_state(settings)

    # vaultgate's tables are dropped first, then the archive's CREATE TABLE notes meets the existing one.
    code, err = cli(settings, "restore", str(archive), "--force")
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("vaultgate: error: psql failed: ") and 'relation "notes" already exists' in err
    assert database_state(settings) == before  # one transaction: the drops were rolled back with it


@pytest.mark.postgres
def test_pg_dump_gets_the_password_from_its_environment_and_its_failure_is_one_line(
    tmp_path: Path, postgres_url: str, cli: Callable[..., tuple[int, str]]
) -> None:
    url = make_url(postgres_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    settings = postgres_vaultgate(tmp_path, url)  # the test server trusts loopback: any password is accepted
    tools = tmp_path / "bin"
    tools.mkdir()
    seen = tmp_path / "seen"
    fake = tools / "pg_dump"
    fake.write_text(
        f'#!/bin/sh\necho "$@" > {seen}\necho "$PGPASSWORD" >> {seen}\necho "pg_dump: error: out of disk" >&2\nexit 1\n'
    )
    fake.chmod(0o700)
    archive = tmp_path / "pg.backup"
    code, err = cli(settings, "backup", str(archive), env={"PATH": f"{tools}:{os.environ['PATH']}"})
    assert code == 1 and err.strip() == "vaultgate: error: pg_dump failed: out of disk"
    arguments, password = seen.read_text().splitlines()
    assert "s3cret-pw" not in arguments and "--format=custom" in arguments
    assert password == "s3cret-pw"
    assert not archive.exists() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".vaultgate")) == []
    assert audit_actions(settings)[-2:] == ["vaultgate.backup", "vaultgate.backup"]  # begun, then failed
