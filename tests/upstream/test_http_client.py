"""The upstream HTTP client sends once and says how it failed: never reached (safe to send again) or
maybe reached (a POST must not be resent). Against a real fault-mode server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.support.faults import Fault, FaultUpstream
from tests.support.servers import free_port
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import (
    UpstreamError,
    UpstreamInvalidResponse,
    UpstreamResponseTooLarge,
    UpstreamUnavailable,
    UpstreamUnreached,
)

BODY = b'{"model": "gpt-4o", "messages": []}'


@pytest.fixture
def faults() -> Iterator[FaultUpstream]:
    server = FaultUpstream().start()
    yield server
    server.stop()


def post(url: str, *, max_bytes: int = 1024 * 1024) -> tuple[int, bytes]:
    async def go() -> tuple[int, bytes]:
        client = UpstreamClient(timeout=5, connect_timeout=5, max_response_bytes=max_bytes)
        await client.start()
        try:
            response = await client.request("POST", url, [("content-type", "application/json")], BODY)
            return response.status, await response.read()
        finally:
            await client.stop()

    return asyncio.run(go())


def failure(url: str, **kw: int) -> UpstreamError:
    with pytest.raises(UpstreamError) as raised:
        post(url, **kw)
    return raised.value


def test_a_refused_connection_was_never_sent() -> None:
    error = failure(f"http://127.0.0.1:{free_port()}/v1/chat/completions")
    assert isinstance(error, UpstreamUnreached) and not error.permanent


@pytest.mark.parametrize("mode", ["close_after_body", "reset_after_body", "reset_before_body"])
def test_a_connection_broken_after_sending_may_have_reached_the_upstream_and_is_sent_once(
    faults: FaultUpstream, mode: str
) -> None:
    faults.script(mode)
    error = failure(faults.url + "/v1/chat/completions")
    assert isinstance(error, UpstreamUnavailable) and not isinstance(error, UpstreamUnreached)
    assert faults.count() == 1


def test_a_redirect_is_returned_not_followed(faults: FaultUpstream) -> None:
    elsewhere = FaultUpstream("elsewhere").start()
    try:
        faults.script(Fault("redirect", {"location": elsewhere.url + "/v1/chat/completions"}))
        status, _ = post(faults.url + "/v1/chat/completions")
        assert status == 307 and elsewhere.count() == 0
    finally:
        elsewhere.stop()


def test_oversized_headers_are_an_invalid_response(faults: FaultUpstream) -> None:
    faults.script("oversized_headers")
    assert isinstance(failure(faults.url + "/v1/chat/completions"), UpstreamInvalidResponse)
    assert faults.count() == 1


def test_a_body_past_the_cap_is_refused_declared_or_endless(faults: FaultUpstream) -> None:
    faults.script("endless")
    assert isinstance(failure(faults.url + "/v1/chat/completions", max_bytes=100_000), UpstreamResponseTooLarge)
    faults.script("ok")  # a whole chat completion declares its length, over this tiny cap
    assert isinstance(failure(faults.url + "/v1/chat/completions", max_bytes=10), UpstreamResponseTooLarge)
