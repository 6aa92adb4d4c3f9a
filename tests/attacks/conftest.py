"""The attack suite: a real ``vaultgate serve`` (subprocess) in front of a recording upstream.

Every test here plays an attacker (a member with a key, a team admin with a token, a hostile
upstream) against the gateway as users run it, and checks what reached the upstream and what
came back. One gateway per test module (start-up costs a second); tests make their own
members, teams and keys, so they do not depend on each other.

- ``served.upstream`` records every request exactly as it arrived; set ``served.upstream.respond``
  to an ``async (captured, send) -> bool`` to answer differently (True: answered).
- ``served.upstream_key`` is the provider credential: it must never come back to a client.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream
from vaultgate.config import Settings
from vaultgate.services import admin_tokens, keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane


@dataclass
class RecordingUpstream(CaptureUpstream):
    """The capturing upstream, with a replaceable answer (``respond``) for hostile-upstream tests."""

    def clear(self) -> None:
        """Forget what was recorded (and any custom answer)."""
        with self.lock:
            self.requests.clear()
        self.respond = None
        self.next_error = None

    def everything(self) -> bytes:
        """Every byte of every recorded request."""
        with self.lock:
            return b"\n".join(r.everything() for r in self.requests)


@dataclass
class Served:
    """A running ``vaultgate serve`` on SQLite and the recording upstream behind it."""

    url: str
    cp: ControlPlane
    upstream: RecordingUpstream
    upstream_key: str
    process: GatewayProcess
    data_dir: Path

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def team(self, name: str | None = None, **policy: Any) -> str:
        """A new team (unique name unless given), with a ceiling policy when given."""
        name = name or "team-" + secrets.token_hex(3)
        teams.create(self.cp, LOCAL_OPERATOR, name)
        if policy:
            teams.set_policy(self.cp, LOCAL_OPERATOR, name, policy=policy)
        return name

    def member(self, name: str | None = None, *, team: str | None = None, role: str = "member") -> str:
        name = name or "m-" + secrets.token_hex(4)
        members.add(self.cp, LOCAL_OPERATOR, name, team=team, role=role)
        return name

    def key(self, member: str, **policy: Any) -> str:
        """A member key with ``policy``, live on the gateway when this returns."""
        token = keys.create(self.cp, LOCAL_OPERATOR, member, policy=policy).token
        self.sync()
        return token

    def admin_token(self, member: str) -> str:
        """A ``vga_`` admin token acting as ``member`` with the member's role."""
        return admin_tokens.create(self.cp, LOCAL_OPERATOR, member)[1]

    def sync(self, timeout: float = 10.0) -> None:
        """Wait until the gateway serves the store's current revision."""
        target = self.cp.store.revision()
        deadline = time.monotonic() + timeout
        while int(httpx.get(self.url + "/healthz").json()["revision"]) < target:
            if time.monotonic() > deadline:
                raise AssertionError("the gateway did not pick up the change")
            time.sleep(0.02)

    def post(self, path: str, token: str, body: Any, **kw: Any) -> httpx.Response:
        """A JSON POST under ``/v1`` with a member key."""
        return httpx.post(self.base_url + path, json=body, headers={"Authorization": f"Bearer {token}"}, **kw)


@contextlib.contextmanager
def serving(tmp: Path, upstream: RecordingUpstream, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``vaultgate serve`` on an initialised SQLite data dir in ``tmp``, in front of ``upstream``.

    On the way out: the provider key must not be in anything the process logged.
    """
    upstream_server = ThreadedServer(upstream).start()
    upstream_key = "sk-proj-" + secrets.token_urlsafe(36)
    settings = Settings(data_dir=tmp / "data", usage_flush_interval=0.2)
    cp = initialised(settings, upstream_server.url, api_key=upstream_key)
    process_env = {"VAULTGATE_REFRESH_INTERVAL": "0.2", **(env or {})}
    process = GatewayProcess(settings.data_dir, tmp / "serve.log", env=process_env)
    try:
        yield Served(process.url, cp, upstream, upstream_key, process, settings.data_dir)
    finally:
        process.stop()
        upstream_server.stop()
        cp.store.dispose()
        log = (tmp / "serve.log").read_bytes()
        assert upstream_key.encode() not in log, "the provider key was logged"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One gateway process per test module."""
    with serving(tmp_path_factory.mktemp("served"), RecordingUpstream()) as gateway:
        yield gateway


@dataclass
class RawResponse:
    """An HTTP answer read off a raw socket (for requests httpx and the SDK would normalise)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, Any]:
        """The error object of a JSON error answer in the documented shape (asserts the shape)."""
        assert self.headers.get("content-type", "").startswith("application/json"), (self.status, self.body[:200])
        document = json.loads(self.body)
        assert set(document["error"]) == {"message", "type", "param", "code"}, document
        return dict(document["error"])


@pytest.fixture
def upstream(served: Served) -> Iterator[RecordingUpstream]:
    """The recording upstream, cleared before each test."""
    served.upstream.clear()
    yield served.upstream
    served.upstream.clear()
