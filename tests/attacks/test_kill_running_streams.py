"""Class 5: a kill switch also ends what is already running.

An endless upstream streams an event every 50 ms for as long as the gateway listens. While
the official SDK reads such a stream, an admin suspends the member (or the team), turns on
lockdown, revokes or rotates the key, or the key expires: the stream must end with an error
event the SDK raises, the upstream connection must be closed, usage must be recorded and the
concurrency lease released. A request still waiting for the upstream gets the 403 in JSON.
One test runs two ``vaultgate serve`` replicas on PostgreSQL: the other replica's stream ends too.

Bounds are counted in upstream events (400 events, about 20 s), never asserted as durations.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from tests.attacks.conftest import RecordingUpstream, Served, serving
from tests.conftest import make_settings
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import capture
from vaultgate.services import keys, members, org, teams
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "count forever"}]}
MAX_EVENTS = 400  # 50 ms apart: a stream still running after these was not cut


@dataclass
class EndlessUpstream(RecordingUpstream):
    """Streams an event every 50 ms until the gateway hangs up; never answers a request that is not a stream."""

    hang_ups: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        captured = await capture(scope, receive)
        with self.lock:
            self.requests.append(captured)
        gone = asyncio.ensure_future(receive())  # http.disconnect once the gateway closes the connection
        if captured.json().get("stream"):
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
            )
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
            count = 0
            while not gone.done():
                chunk = {**base, "choices": [{"index": 0, "delta": {"content": f" {count}"}, "finish_reason": None}]}
                await send(
                    {"type": "http.response.body", "body": f"data: {json.dumps(chunk)}\n\n".encode(), "more_body": True}
                )
                count += 1
                await asyncio.wait([gone], timeout=0.05)
        else:
            await gone
        with self.lock:
            self.hang_ups += 1

    def wait_hang_ups(self, count: int, timeout: float = 10.0) -> None:
        """Wait until the gateway has closed ``count`` upstream connections."""
        deadline = time.monotonic() + timeout
        while self.hang_ups < count:
            assert time.monotonic() < deadline, f"the upstream connection was not closed ({self.hang_ups}/{count})"
            time.sleep(0.02)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """As the suite's ``served``, with the endless upstream behind it."""
    with serving(tmp_path_factory.mktemp("kill"), EndlessUpstream()) as gateway:
        yield gateway


@pytest.fixture
def endless(served: Served) -> EndlessUpstream:
    upstream = served.upstream
    assert isinstance(upstream, EndlessUpstream)
    with upstream.lock:
        upstream.hang_ups = 0
        upstream.requests.clear()
    return upstream


def _sdk(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)


def cut_stream(base_url: str, key: str, switch: Callable[[], object]) -> openai.APIError:
    """Start a stream, see it run, flip the switch, read on: the error the SDK raised when the stream ended."""
    with _sdk(base_url, key).chat.completions.create(**CHAT, stream=True) as stream:
        events = iter(stream)
        for _ in range(3):
            next(events)  # the stream is running
        switch()
        with pytest.raises(openai.APIError) as raised:
            for count, _ in enumerate(events):
                assert count < MAX_EVENTS, "the stream went on after the kill switch"
    return raised.value


def _usage_codes(cp: ControlPlane, key_id: str, expected: str, timeout: float = 10.0) -> list[str | None]:
    """The error codes of the key's usage rows, once ``expected`` is among them (or the wait is over)."""
    deadline = time.monotonic() + timeout
    while True:
        with cp.store.session() as session:
            codes = list(session.scalars(select(UsageEvent.error_code).where(UsageEvent.key_id == key_id)).all())
        if expected in codes or time.monotonic() > deadline:
            return sorted(codes, key=str)
        time.sleep(0.05)


def test_member_suspend_ends_a_running_stream_closes_the_upstream_records_usage_and_frees_the_lease(
    served: Served, endless: EndlessUpstream
) -> None:
    name = served.member(team=served.team())
    created = keys.create(served.cp, LOCAL_OPERATOR, name, limits={"concurrency": 1})
    served.sync()

    def suspend() -> None:
        # The running stream holds the key's one concurrency slot...
        assert served.post("/chat/completions", created.token, CHAT, timeout=10).status_code == 429
        members.suspend(served.cp, LOCAL_OPERATOR, name)

    error = cut_stream(served.base_url, created.token, suspend)
    assert isinstance(error.body, dict) and error.body["code"] == "stream_revoked"
    assert "suspended" in error.message
    endless.wait_hang_ups(1)
    assert _usage_codes(served.cp, created.info.id, "stream_revoked") == ["rate_limit_exceeded", "stream_revoked"]
    # ...and the cut stream gave it back: the next stream runs.
    members.resume(served.cp, LOCAL_OPERATOR, name)
    served.sync()
    error = cut_stream(served.base_url, created.token, lambda: keys.revoke(served.cp, LOCAL_OPERATOR, created.info.id))
    assert isinstance(error.body, dict) and error.body["code"] == "stream_revoked"


def test_team_suspend_ends_a_running_stream(served: Served, endless: EndlessUpstream) -> None:
    team = served.team()
    key = served.key(served.member(team=team))
    error = cut_stream(served.base_url, key, lambda: teams.suspend(served.cp, LOCAL_OPERATOR, team))
    assert "team is suspended" in error.message
    endless.wait_hang_ups(1)


def test_lockdown_ends_a_running_stream(served: Served, endless: EndlessUpstream) -> None:
    key = served.key(served.member(team=served.team()))
    try:
        error = cut_stream(served.base_url, key, lambda: org.set_lockdown(served.cp, LOCAL_OPERATOR, True))
    finally:
        org.set_lockdown(served.cp, LOCAL_OPERATOR, False)
        served.sync()
    assert "lockdown" in error.message
    endless.wait_hang_ups(1)


def test_key_revoke_ends_a_running_stream(served: Served, endless: EndlessUpstream) -> None:
    name = served.member(team=served.team())
    created = keys.create(served.cp, LOCAL_OPERATOR, name)
    served.sync()
    error = cut_stream(served.base_url, created.token, lambda: keys.revoke(served.cp, LOCAL_OPERATOR, created.info.id))
    assert isinstance(error.body, dict) and error.body["code"] == "stream_revoked"
    endless.wait_hang_ups(1)


def test_rotation_without_grace_ends_the_old_secrets_stream(served: Served, endless: EndlessUpstream) -> None:
    created = keys.create(served.cp, LOCAL_OPERATOR, served.member(team=served.team()))
    served.sync()
    rotate = lambda: keys.rotate(served.cp, LOCAL_OPERATOR, created.info.id, grace="0s")  # noqa: E731
    error = cut_stream(served.base_url, created.token, rotate)
    assert isinstance(error.body, dict) and error.body["code"] == "stream_revoked"
    endless.wait_hang_ups(1)


def test_expiry_ends_a_running_stream(served: Served, endless: EndlessUpstream) -> None:
    created = keys.create(served.cp, LOCAL_OPERATOR, served.member(team=served.team()), expires_in="4s")
    served.sync()
    # Nothing changes in the store: the gateway's own clock must end the stream.
    error = cut_stream(served.base_url, created.token, lambda: None)
    assert isinstance(error.body, dict) and error.body["code"] == "stream_revoked"
    endless.wait_hang_ups(1)


def test_a_request_waiting_for_the_upstream_gets_the_403_when_its_member_is_suspended(
    served: Served, endless: EndlessUpstream
) -> None:
    name = served.member(team=served.team())
    key = served.key(name)

    def suspend_once_sent() -> None:
        deadline = time.monotonic() + 10
        while not endless.requests:
            assert time.monotonic() < deadline, "the request never reached the upstream"
            time.sleep(0.02)
        members.suspend(served.cp, LOCAL_OPERATOR, name)

    async def race() -> None:
        client = openai.AsyncOpenAI(base_url=served.base_url, api_key=key, max_retries=0, timeout=20)
        pending = asyncio.ensure_future(client.chat.completions.create(**CHAT))
        await asyncio.to_thread(suspend_once_sent)
        with pytest.raises(openai.PermissionDeniedError) as raised:
            await pending
        assert "suspended" in raised.value.message

    asyncio.run(race())
    endless.wait_hang_ups(1)


@pytest.mark.postgres
def test_a_stream_on_the_other_replica_ends_too(tmp_path: Path, postgres_url: str) -> None:
    upstream = EndlessUpstream()
    upstream_server = ThreadedServer(upstream).start()
    settings = make_settings(tmp_path, postgres_url)
    cp = initialised(settings, upstream_server.url)
    env = {"VAULTGATE_DATABASE_URL": postgres_url}
    replicas = [GatewayProcess(settings.data_dir, tmp_path / f"replica{i}.log", env) for i in range(2)]
    try:
        members.add(cp, LOCAL_OPERATOR, "alice")
        key = keys.create(cp, LOCAL_OPERATOR, "alice").token
        for replica in replicas:
            _wait_synced(replica.url, cp)
        with _sdk(replicas[1].url + "/v1", key).chat.completions.create(**CHAT, stream=True) as other:
            running = iter(other)
            next(running)
            # The switch is thrown while a stream runs on each replica; both end.
            error = cut_stream(replicas[0].url + "/v1", key, lambda: members.suspend(cp, LOCAL_OPERATOR, "alice"))
            assert "suspended" in error.message
            with pytest.raises(openai.APIError) as raised:
                for count, _ in enumerate(running):
                    assert count < MAX_EVENTS, "the other replica's stream went on after the kill switch"
        assert isinstance(raised.value.body, dict) and raised.value.body["code"] == "stream_revoked"
        upstream.wait_hang_ups(2)
    finally:
        for replica in replicas:
            replica.stop()
        upstream_server.stop()
        cp.store.dispose()


def _wait_synced(url: str, cp: ControlPlane) -> None:
    """Wait until the replica serves the store's current revision."""
    target = cp.store.revision()
    deadline = time.monotonic() + 10
    while int(httpx.get(url + "/healthz").json()["revision"]) < target:
        assert time.monotonic() < deadline, "the replica did not pick up the change"
        time.sleep(0.02)
