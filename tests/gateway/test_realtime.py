"""Realtime sessions over WebSocket: the official SDK through the gateway, with the same controls as HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import websockets
from tests.attacks.conftest import RecordingUpstream, serving
from tests.conftest import Stack
from tests.support.realtime import RealtimeUpstream

from vaultgate.services import keys
from vaultgate.services.context import LOCAL_OPERATOR


@pytest.fixture
def realtime(stack: Stack) -> RealtimeUpstream:
    upstream = RealtimeUpstream(stack.upstream_key)
    stack.upstream.websocket = upstream
    return upstream


def client(stack: Stack, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def item(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def until(connection: Any, kind: str) -> list[Any]:
    """The events received up to and including the first of type ``kind``."""
    seen = []
    async with asyncio.timeout(30):
        async for event in connection:
            seen.append(event)
            if event.type == kind:
                return seen
    raise AssertionError(f"the session ended before a {kind} event: {[e.type for e in seen]}")


def test_a_session_runs_through_the_gateway_with_the_vault_key(stack: Stack, realtime: RealtimeUpstream) -> None:
    stack.member("alice")
    key = stack.key("alice")

    async def run() -> list[Any]:
        async with client(stack, key).realtime.connect(model="gpt-realtime") as connection:
            await connection.conversation.item.create(item=item("hello there"))
            await connection.response.create()
            return await until(connection, "response.done")

    events = asyncio.run(run())
    assert [e.type for e in events] == ["session.created", "response.output_text.delta", "response.done"]
    assert events[1].delta == "heard: hello there"
    session = realtime.sessions[0]
    assert session.path == "/v1/realtime" and session.query == b"model=gpt-realtime"
    assert session.headers["authorization"] == f"Bearer {stack.upstream_key}"
    assert key not in json.dumps(session.headers)
    assert session.closed.wait(10), "the upstream session outlived the client's"
    row = next(r for r in stack.usage(1) if r.endpoint == "realtime")
    assert (row.status, row.prompt_tokens, row.completion_tokens, row.stream) == (200, 5, 3, True)


def test_refusals_come_before_the_upgrade_as_openai_errors(stack: Stack, realtime: RealtimeUpstream) -> None:
    stack.member("alice")
    no_realtime = stack.key("alice", scopes={"realtime": "none"})
    url = stack.gateway.url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"

    async def refused(headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with websockets.connect(url, additional_headers=headers):
                pass
        response = info.value.response
        return response.status_code, json.loads(response.body or b"{}")

    status, body = asyncio.run(refused({}))
    assert status == 401 and body["error"]["code"] == "invalid_api_key"
    status, body = asyncio.run(refused({"authorization": f"Bearer {no_realtime}"}))
    assert status == 403 and "realtime" in body["error"]["message"]
    assert realtime.sessions == []


def test_plain_http_and_ephemeral_secrets_are_refused(stack: Stack, realtime: RealtimeUpstream) -> None:
    stack.member("alice")
    headers = {"authorization": f"Bearer {stack.key('alice')}"}
    plain = httpx.get(stack.base_url + "/realtime?model=gpt-realtime", headers=headers)
    assert plain.status_code == 426 and plain.json()["error"]["code"] == "websocket_required"
    for name in ("client_secrets", "sessions", "transcription_sessions", "translations/client_secrets"):
        minted = httpx.post(stack.base_url + f"/realtime/{name}", headers=headers, json={"model": "gpt-realtime"})
        assert minted.status_code == 403 and minted.json()["error"]["code"] == "ephemeral_keys_refused"
    assert stack.upstream.requests == []


def test_an_event_with_personal_data_is_refused_and_the_session_goes_on(
    stack: Stack, realtime: RealtimeUpstream
) -> None:
    stack.member("alice")
    key = stack.key("alice")

    async def run() -> tuple[list[Any], list[Any]]:
        async with client(stack, key).realtime.connect(model="gpt-realtime") as connection:
            await connection.conversation.item.create(item=item("mail me at jane.doe@example.com"))
            refused = await until(connection, "error")
            await connection.conversation.item.create(item=item("nothing personal"))
            await connection.response.create()
            return refused, await until(connection, "response.done")

    refused, answered = asyncio.run(run())
    assert refused[-1].error.code == "pii_blocked"
    # The gateway's own refusal may overtake the upstream's session.created: look for the answer by type.
    assert [e.delta for e in answered if e.type == "response.output_text.delta"] == ["heard: nothing personal"]
    sent = json.dumps(realtime.sessions[0].raw)
    assert "jane.doe@example.com" not in sent and "nothing personal" in sent


def test_provider_credentials_are_cut_from_upstream_events(stack: Stack, realtime: RealtimeUpstream) -> None:
    stack.member("alice")
    key = stack.key("alice")
    realtime.say = f"my key is {stack.upstream_key}"

    async def run() -> list[Any]:
        async with client(stack, key).realtime.connect(model="gpt-realtime") as connection:
            await connection.response.create()
            return await until(connection, "response.done")

    events = asyncio.run(run())
    assert stack.upstream_key not in events[1].delta and events[1].delta.startswith("my key is ")


def test_revoking_the_key_ends_a_running_session(stack: Stack, realtime: RealtimeUpstream) -> None:
    stack.member("alice")
    key = stack.key("alice")
    key_id = keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[0].id

    async def run() -> list[Any]:
        async with client(stack, key).realtime.connect(model="gpt-realtime") as connection:
            await until(connection, "session.created")
            await asyncio.to_thread(keys.revoke, stack.cp, LOCAL_OPERATOR, key_id)
            events = await until(connection, "error")
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                async with asyncio.timeout(30):
                    await connection.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            return events

    events = asyncio.run(run())
    assert events[-1].error.code == "session_revoked"
    assert realtime.sessions[0].closed.wait(10), "the upstream session outlived the revocation"
    row = next(r for r in stack.usage(1) if r.endpoint == "realtime")
    assert row.error_code == "session_revoked"


def test_vaultgate_serve_serves_sessions_past_its_http_deadlines(tmp_path: Path) -> None:
    """The real server (its guarded HTTP protocol, uvloop, websockets): a session outlives the body deadline."""
    upstream = RecordingUpstream()
    with serving(tmp_path, upstream, env={"VAULTGATE_BODY_TIMEOUT": "1"}) as served:
        upstream.websocket = realtime_upstream = RealtimeUpstream(served.upstream_key)
        key = served.key(served.member())

        async def run() -> list[Any]:
            c = openai.AsyncOpenAI(base_url=served.base_url, api_key=key, max_retries=0)
            async with c.realtime.connect(model="gpt-realtime") as connection:
                await until(connection, "session.created")
                # Past the body deadline (1 s + the protocol's 2 s grace), observed by the session staying open:
                await asyncio.sleep(4)
                await connection.conversation.item.create(item=item("still here"))
                await connection.response.create()
                return await until(connection, "response.done")

        events = asyncio.run(run())
        assert events[0].delta == "heard: still here"
        assert realtime_upstream.sessions[0].headers["authorization"] == f"Bearer {served.upstream_key}"
