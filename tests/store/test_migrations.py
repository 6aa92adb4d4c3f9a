"""Upgrades: a first-release database (revision 0001, rows in every table) migrated to head keeps working,
and nothing but ``init`` and ``migrate`` changes the schema (serve refuses one that is behind or ahead)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from tests.conftest import make_settings
from tests.support.process import GatewayProcess
from tests.support.schema_0001 import Legacy, create_0001
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import audit_trail, bootstrap, migration
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store import migrate
from vaultgate.store.db import Store, normalise_url
from vaultgate.store.errors import SchemaMismatch
from vaultgate.store.models import AuditEvent, Base, UsageEvent

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def test_head_and_revision_order_agree_with_alembic(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    scripts = ScriptDirectory.from_config(migrate.alembic_config(store))
    chain = [script.revision for script in reversed(list(scripts.walk_revisions()))]
    assert migrate.known_revisions() == tuple(chain)
    assert migrate.head() == scripts.get_current_head()
    store.dispose()


def _usable_after_upgrade(gateway_url: str, legacy: Legacy, upstream: CaptureUpstream) -> None:
    """The 0001 member key, its policy, the revoked key, the sealed provider key and the admin token all work."""
    client = openai.OpenAI(base_url=gateway_url + "/v1", api_key=legacy.member_key, max_retries=0)
    reply = client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert reply.choices[0].message.content == "upstream says: hello"
    assert upstream.last.headers["authorization"] == f"Bearer {legacy.provider_key}"  # the sealed credential opened
    with pytest.raises(openai.PermissionDeniedError):  # 0001's policy: embeddings=none
        client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway_url + "/v1", api_key=legacy.revoked_key, max_retries=0).models.list()
    members = httpx.get(gateway_url + "/admin/members", headers={"authorization": f"Bearer {legacy.admin_token}"})
    assert members.status_code == 200, members.text
    assert {m["name"] for m in members.json()} == {"admin", "alice"}


def _audit_intact(settings: Settings, expected_actions: list[str]) -> list[str]:
    cp = bootstrap.open_control_plane(settings)
    count, broken = audit_trail.verify(cp, LOCAL_OPERATOR)
    with cp.store.session() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    cp.store.dispose()
    assert broken is None and count == len(actions)
    # What the gateway saw (refused keys) is summarised when it flushes, whenever that falls: kept apart here.
    changes = [a for a in actions if a not in SECURITY_SUMMARIES]
    assert changes[-len(expected_actions) :] == expected_actions
    return actions


SECURITY_SUMMARIES = ("auth.failures", "gateway.refusals")


def test_first_release_database_upgrades_to_head_with_every_row_working(
    tmp_path: Path, database_url: str, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> None:
    upstream, upstream_server = capture_upstream
    settings = make_settings(tmp_path, database_url)
    legacy = create_0001(settings, upstream_server.url)
    with pytest.raises(
        SchemaMismatch, match=f"at revision 0001, this vaultgate needs {migrate.head()}: run `vaultgate migrate`"
    ):
        build(settings)  # the in-process gateway checks too, and changes nothing

    planned = migration.migrate(settings, dry_run=True)
    assert (planned.current, planned.pending, planned.applied) == ("0001", migrate.known_revisions()[1:], False)
    store = Store(database_url)
    assert migrate.current_revision(store) == "0001"
    applied = migration.migrate(settings)
    assert applied.applied and migrate.current_revision(store) == migrate.head()
    assert migration.migrate(settings).pending == ()  # idempotent
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        team = conn.execute(text("SELECT name, policy, expire_overdue_keys FROM teams")).one()
    assert team[0] == "research" and team[2] in (False, 0)

    gateway = ThreadedServer(build(settings)).start()
    try:
        _usable_after_upgrade(gateway.url, legacy, upstream)
        deadline = time.monotonic() + 10
        while True:
            with store.session() as session:
                usage = list(session.scalars(select(UsageEvent).order_by(UsageEvent.id)))
            if len(usage) > legacy.usage_rows or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        gateway.stop()
    assert [u.request_id for u in usage[: legacy.usage_rows]] == ["req_0", "req_1", "req_2"]
    assert all(u.cost_usd is None for u in usage[: legacy.usage_rows])  # a column 0002 added, empty for old rows
    assert usage[legacy.usage_rows].key_id == "key_alice" and usage[legacy.usage_rows].status == 200
    store.dispose()
    actions = _audit_intact(settings, ["key.revoke", "vaultgate.migrate"])  # the 0001 chain, the migration's record
    assert "auth.failures" in actions  # the key revoked before the upgrade was refused, and that is on record


def vg(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAULTGATE_DATABASE_URL": settings.resolved_database_url}
    env.pop("VAULTGATE_MASTER_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "vaultgate", "--data-dir", str(settings.data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_serve_refuses_an_unmigrated_database_until_vaultgate_migrate(
    tmp_path: Path, database_url: str, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> None:
    upstream, upstream_server = capture_upstream
    settings = make_settings(tmp_path, database_url)
    legacy = create_0001(settings, upstream_server.url)

    refused = vg(settings, "serve", "--port", "1")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"vaultgate: error: the database schema is at revision 0001, this vaultgate needs {migrate.head()}: "
        "run `vaultgate migrate` (back up first: `vaultgate backup FILE`)"
    ]
    store = Store(database_url)
    assert migrate.current_revision(store) == "0001"  # serve changed nothing

    migrated = vg(settings, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"0001 -> {migrate.head()}" in migrated.stderr
    assert migrate.current_revision(store) == migrate.head()
    store.dispose()

    served = GatewayProcess(settings.data_dir, tmp_path / "serve.log", {"VAULTGATE_DATABASE_URL": database_url})
    try:
        _usable_after_upgrade(served.url, legacy, upstream)
    finally:
        served.stop()


def test_a_schema_from_a_newer_vaultgate_is_refused_by_serve_and_migrate(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url)
    bootstrap.init(settings)
    store = Store(database_url)
    with store.session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    message = "the database schema is at revision 0999, which this vaultgate"
    with pytest.raises(SchemaMismatch, match=message) as refused:
        bootstrap.open_control_plane(settings)
    assert "migrated by a newer vaultgate; run that version" in str(refused.value)
    with pytest.raises(SchemaMismatch, match=message):
        migration.migrate(settings)
    assert migrate.current_revision(store) == "0999"
    store.dispose()


def test_database_urls_users_have_are_accepted() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("postgres://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///x.db").startswith("sqlite+pysqlite://")
