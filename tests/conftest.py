"""Fixtures shared by the whole suite: databases (SQLite and PostgreSQL), a capturing upstream, a running gateway.

PostgreSQL and Redis tests *fail* (not skip) when ``CI=true`` and the server is unreachable.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import select

from tests.support.postgres import PrivatePostgres
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream
from tests.support.webhook import WebhookSink
from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import bootstrap, keys, members, providers
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("VAULTGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def require_service(name: str, problem: str) -> None:
    """Fail in CI, skip elsewhere: a missing service never counts as a pass in CI."""
    message = f"{name} is not reachable: {problem}"
    if IN_CI:
        pytest.fail(message + " (CI=true: tests needing it must not be skipped)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        require_service("PostgreSQL", f"{PG_URL}: {type(exc).__name__}")
    return PG_URL


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = "vg_test_" + secrets.token_hex(6)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vaultgate.db'}"
    return str(request.getfixturevalue("postgres_url"))


@dataclass
class Stack:
    """An initialised vaultgate with a running gateway in front of a capturing upstream."""

    settings: Settings
    cp: ControlPlane
    admin_token: str
    gateway: ThreadedServer
    upstream: CaptureUpstream
    upstream_key: str
    webhooks: WebhookSink
    upstream_server_url: str

    @property
    def base_url(self) -> str:
        return self.gateway.url + "/v1"

    def member(self, name: str = "alice", **kw: Any) -> str:
        members.add(self.cp, LOCAL_OPERATOR, name, **kw)
        return name

    def key(self, member: str = "alice", *, expires_in: str | None = None, **policy: Any) -> str:
        token = keys.create(self.cp, LOCAL_OPERATOR, member, policy=policy, expires_in=expires_in).token
        self.sync()
        return token

    def usage(self, expected: int, timeout: float = 5.0) -> list[UsageEvent]:
        """The usage rows, once at least ``expected`` have been flushed (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.cp.store.session() as session:
                rows = list(session.scalars(select(UsageEvent).order_by(UsageEvent.id)).all())
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def gateway_revision(self) -> int:
        return int(httpx.get(self.gateway.url + "/healthz").json()["revision"])

    def sync(self, timeout: float = 5.0) -> float:
        """Wait until the gateway serves the store's current revision; returns the seconds it took."""
        target = self.cp.store.revision()
        start = time.monotonic()
        while self.gateway_revision() < target:
            if time.monotonic() - start > timeout:
                raise AssertionError("the gateway did not pick up the change")
            time.sleep(0.02)
        return time.monotonic() - start


def make_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, usage_flush_interval=0.2)


@pytest.fixture
def capture_upstream() -> Iterator[tuple[CaptureUpstream, ThreadedServer]]:
    upstream = CaptureUpstream()
    server = ThreadedServer(upstream).start()
    yield upstream, server
    server.stop()


@pytest.fixture
def stack(
    tmp_path: Path, database_url: str, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> Iterator[Stack]:
    upstream, upstream_server = capture_upstream
    webhooks = WebhookSink()
    settings = make_settings(tmp_path, database_url).evolve(webhook_url=webhooks.url)
    result = bootstrap.init(settings)
    assert result.admin_token is not None
    cp = bootstrap.open_control_plane(settings)
    upstream_key = "sk-upstream-" + secrets.token_urlsafe(24)
    providers.add(
        cp,
        LOCAL_OPERATOR,
        "capture",
        kind="compatible",
        base_url=upstream_server.url + "/v1",
        api_key=upstream_key,
        allow_insecure_http=True,
    )
    gateway = ThreadedServer(build(settings)).start()
    yield Stack(settings, cp, result.admin_token, gateway, upstream, upstream_key, webhooks, upstream_server.url)
    gateway.stop()
    webhooks.close()
    cp.store.dispose()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, which it may crash and restart (tests/support/postgres.py)."""
    server = PrivatePostgres().start()
    yield server
    server.remove()
