"""Protocol hygiene in the app (issue 9): one credential per request, body deadlines, head limits under any
ASGI server, and unexpected failures answered in OpenAI's shape without their messages in the log."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import httpx
import openai
import pytest
from tests.conftest import Stack

from vaultgate import config
from vaultgate.gateway import authn, failure, protect, relay
from vaultgate.gateway.asgi import Message
from vaultgate.gateway.body_deadlines import BodyDeadlines
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.http_limits import HttpLimits, header_refusal
from vaultgate.server import Gateway

PROMPT_SECRET = "the-prompt-nobody-may-log"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def exchange_with(raw: list[tuple[bytes, bytes]]) -> Exchange:
    return Exchange("POST", "/v1/chat/completions", b"", {k.lower(): v for k, v in raw}, None)


# --- one credential ---


@pytest.mark.parametrize(
    "raw",
    [
        [(b"authorization", b"Bearer vgk_a"), (b"authorization", b"Bearer vgk_a")],
        [(b"authorization", b"Bearer vgk_a"), (b"Authorization", b"Bearer vgk_b")],
        [(b"api-key", b"vgk_a"), (b"api-key", b"vgk_b")],
        [(b"authorization", b"Bearer vgk_a"), (b"api-key", b"vgk_b")],
        [(b"authorization", b"Basic dXNlcg=="), (b"api-key", b"vgk_b")],
    ],
)
def test_more_than_one_credential_is_refused(raw: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(GatewayError) as raised:
        authn.check_single_credential(exchange_with(raw), raw)
    assert (raised.value.status, raised.value.code) == (400, "invalid_request")
    assert raised.value.message == "Send exactly one Authorization header."


@pytest.mark.parametrize(
    "raw",
    [
        [(b"authorization", b"Bearer vgk_a")],
        [(b"api-key", b"vgk_a")],
        [(b"authorization", b"Bearer vgk_a"), (b"api-key", b"vgk_a")],
        [(b"authorization", b"Bearer vgk_a"), (b"x-other", b"1"), (b"x-other", b"2")],
    ],
)
def test_one_credential_passes(raw: list[tuple[bytes, bytes]]) -> None:
    authn.check_single_credential(exchange_with(raw), raw)


# --- body deadlines ---


def never_more(*chunks: bytes) -> Any:
    """A receive that hands out ``chunks`` (more to come) and then waits for ever."""
    pending = list(chunks)

    async def receive() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(0), "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    return receive


def test_a_stalled_body_read_ends_with_408() -> None:
    async def run() -> None:
        receive = BodyDeadlines(idle=0.05, total=60).receive(never_more(b"{"))
        assert (await receive())["body"] == b"{"
        with pytest.raises(GatewayError) as raised:
            await receive()
        assert (raised.value.status, raised.value.code) == (408, "request_timeout")
        receive.stop()
        # The task was not left cancelled: it goes on (to answer the 408).
        await asyncio.sleep(0)

    asyncio.run(run())


def test_a_body_read_past_its_overall_deadline_ends_with_408() -> None:
    async def run() -> None:
        async def steady() -> Message:
            await asyncio.sleep(0.01)
            return {"type": "http.request", "body": b" ", "more_body": True}

        receive = BodyDeadlines(idle=60, total=0.2).receive(steady)
        with pytest.raises(GatewayError) as raised:
            while True:  # every read is quick; the sum is not
                await receive()
        assert raised.value.status == 408
        receive.stop()

    asyncio.run(run())


def test_a_passed_deadline_never_cancels_a_task_that_is_not_reading() -> None:
    async def run() -> None:
        async def whole() -> Message:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        receive = BodyDeadlines(idle=0.01, total=0.02).receive(whole)
        assert (await receive())["body"] == b"{}"
        await asyncio.sleep(0.1)  # past both deadlines, not reading (and not stopped): not cancelled
        receive.stop()

    asyncio.run(run())


# --- head limits in the app ---


def test_header_refusal_counts_fields_and_bytes() -> None:
    limits = HttpLimits(max_header_count=3, max_header_bytes=100)
    assert header_refusal([(b"a", b"1")] * 3, limits) is None
    assert header_refusal([(b"a", b"1")] * 4, limits) is not None
    too_big = header_refusal([(b"a", b"x" * 100)], limits)
    assert too_big is not None and (too_big.status, too_big.code) == (431, "request_header_fields_too_large")


def test_the_app_refuses_too_many_headers_under_any_server(stack: Stack) -> None:
    stack.member()
    key = stack.key()
    headers = [("Authorization", f"Bearer {key}"), *((f"X-Field-{i}", "1") for i in range(150))]
    response = httpx.post(stack.base_url + "/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "request_header_fields_too_large"
    assert stack.upstream.requests == []


def test_limits_must_be_positive() -> None:
    for name in ("VAULTGATE_HEADER_TIMEOUT", "VAULTGATE_BODY_TIMEOUT", "VAULTGATE_MAX_HEADER_COUNT"):
        with pytest.raises(config.ConfigError, match=name):
            config.load({name: "0"})
    assert config.load({"VAULTGATE_BODY_IDLE_TIMEOUT": "2.5"}).body_idle_timeout == 2.5


# --- the key before the body; the token exchange after the reorder ---


def test_a_refusal_before_the_body_closes_the_connection_and_the_exchange_still_works(stack: Stack) -> None:
    stack.member()
    key = stack.key()
    refused = httpx.post(stack.base_url + "/chat/completions", json=CHAT, headers={"Authorization": "Bearer vgk_x"})
    assert refused.status_code == 401
    assert refused.headers["connection"] == "close"
    exchanged = httpx.post(
        stack.base_url + "/vaultgate/tokens", json={"expires_in": 600}, headers={"Authorization": f"Bearer {key}"}
    )
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["token"].startswith("vgt_")


# --- unexpected failures ---


def test_a_stage_that_raises_gets_a_json_500_and_its_message_is_not_logged(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stack.member()
    key = stack.key()

    def broken_protect(guard: Any, ex: Exchange) -> None:
        raise ValueError(f"could not redact {PROMPT_SECRET}")

    monkeypatch.setattr(protect, "protect", broken_protect)
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    with caplog.at_level(logging.INFO), pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT_SECRET}])
    response = raised.value.response
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "internal_error"
    failures = [r.getMessage() for r in caplog.records if "unexpected failure" in r.getMessage()]
    assert len(failures) == 1
    assert "ValueError" in failures[0] and response.headers["x-request-id"] in failures[0]
    assert PROMPT_SECRET not in caplog.text
    assert stack.upstream.requests == []


def test_a_stream_that_fails_after_it_started_ends_with_an_sse_error_event(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stack.member()
    key = stack.key()
    keep_event = relay._keep_event

    def breaks_on_the_last_event(ex: Exchange, event: bytes) -> bool:
        if b'"finish_reason": "stop"' in event:
            raise KeyError(PROMPT_SECRET)
        return keep_event(ex, event)

    monkeypatch.setattr(relay, "_keep_event", breaks_on_the_last_event)
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    pieces = []
    with caplog.at_level(logging.INFO), pytest.raises(openai.APIError) as raised:
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            pieces.append(chunk)
    # Not a status error: the 200 had gone out, and the stream ended with the error event.
    assert not isinstance(raised.value, openai.APIStatusError)
    assert "failed to handle this request" in raised.value.message
    assert PROMPT_SECRET not in caplog.text


def test_describe_names_the_type_and_frames_but_not_the_message() -> None:
    try:
        try:
            raise KeyError(PROMPT_SECRET)
        except KeyError as inner:
            raise RuntimeError(PROMPT_SECRET) from inner
    except RuntimeError as exc:
        text = failure.describe(exc)
    assert "RuntimeError at test_protocol_hygiene.py:" in text and "caused by KeyError" in text
    assert PROMPT_SECRET not in text


def test_failures_outside_the_data_plane_are_json(caplog: pytest.LogCaptureFixture) -> None:
    async def broken_admin(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError(PROMPT_SECRET)

    none = cast(Any, None)
    gateway = Gateway(none, broken_admin, none, none, none)
    transport = httpx.ASGITransport(app=gateway)

    async def run() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.get("/admin/me")

    response = asyncio.run(run())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"].startswith("req_")
    assert PROMPT_SECRET not in caplog.text
    assert "RuntimeError" in caplog.text
