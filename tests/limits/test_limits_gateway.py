"""Limits through the running gateway, with the official openai SDK as the client (memory and Redis backends)."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Stack, make_settings
from tests.support.process import initialised
from tests.support.servers import ThreadedServer, free_port
from tests.support.upstream import CaptureUpstream
from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import keys
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane


@dataclass
class Limited:
    """A running gateway (the shared Stack's helpers) with settings of the test's choosing."""

    settings: Settings
    cp: ControlPlane
    gateway: ThreadedServer
    upstream: CaptureUpstream

    base_url = Stack.base_url
    member = Stack.member
    key = Stack.key
    usage = Stack.usage
    gateway_revision = Stack.gateway_revision
    sync = Stack.sync


def _stack(tmp_path: Path, upstream: tuple[CaptureUpstream, ThreadedServer], **overrides: Any) -> Limited:
    capture, upstream_server = upstream
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vg.db'}").evolve(**overrides)
    cp = initialised(settings, upstream_server.url, "sk-upstream-" + secrets.token_urlsafe(24))
    gateway = ThreadedServer(build(settings)).start()
    return Limited(settings, cp, gateway, capture)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limited(
    request: pytest.FixtureRequest, tmp_path: Path, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> Iterator[Limited]:
    overrides: dict[str, Any] = {}
    if request.param == "redis":
        overrides = {
            "redis_url": request.getfixturevalue("redis_url"),
            "limits_prefix": request.getfixturevalue("redis_prefix"),
        }
    stack = _stack(tmp_path, capture_upstream, **overrides)
    yield stack
    stack.gateway.stop()
    stack.cp.store.dispose()


def limited_key(stack: Limited, member: str = "alice", **limits: Any) -> str:
    token = keys.create(stack.cp, LOCAL_OPERATOR, member, limits=limits).token
    stack.sync()
    return token


def client(stack: Limited, key: str, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=retries)


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


def test_rpm_headers_and_refusal_the_sdk_understands(limited: Limited) -> None:
    limited.member("alice")
    c = client(limited, limited_key(limited, rpm=2, tpm=10_000))
    first = c.chat.completions.with_raw_response.create(**CHAT)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert first.headers["x-ratelimit-limit-tokens"] == "10000"
    assert 0 < int(first.headers["x-ratelimit-remaining-tokens"]) < 10_000
    c.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError) as err:
        c.chat.completions.create(**CHAT)
    assert err.value.code == "rate_limit_exceeded"
    headers = err.value.response.headers
    assert 0 < int(headers["retry-after-ms"]) <= 61_000
    assert int(headers["retry-after"]) == -(-int(headers["retry-after-ms"]) // 1000)
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert len(limited.upstream.requests) == 2  # the refused call never left the gateway
    rows = limited.usage(3)
    assert [(r.status, r.error_code) for r in rows][-1] == (429, "rate_limit_exceeded")


def test_concurrency_limit(limited: Limited) -> None:
    limited.member("alice")
    key = limited_key(limited, concurrency=1)
    answer = limited.upstream._answer

    async def slow(*args: Any) -> None:
        await asyncio.sleep(0.5)
        await answer(*args)

    limited.upstream._answer = slow  # type: ignore[method-assign]

    async def run() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as http:
            replies = await asyncio.gather(
                *(
                    http.post(
                        limited.base_url + "/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"}
                    )
                    for _ in range(3)
                )
            )
        return sorted(r.status_code for r in replies)

    statuses = asyncio.run(run())
    assert statuses[0] == 200 and 429 in statuses


def test_budget_refusal_is_insufficient_quota_and_cost_is_recorded(limited: Limited) -> None:
    limited.member("alice")
    # gpt-4o: $2.50 / $10 per 1M tokens. Reserving 1000 output tokens costs ~$0.01; the budget holds two.
    key = limited_key(limited, budget_usd=0.021, budget_period="day")
    c = client(limited, key, retries=2)
    for _ in range(2):
        c.chat.completions.create(model="gpt-4o", max_tokens=1000, messages=[{"role": "user", "content": "hi"}])
    # Settled at the real cost (11 prompt + 7 completion tokens = $0.0000975), so there is room again.
    c.chat.completions.create(model="gpt-4o", max_tokens=1000, messages=[{"role": "user", "content": "hi"}])
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as err:
        c.chat.completions.create(model="gpt-4o", max_tokens=3000, messages=[{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 2, "the SDK must not retry a budget refusal"
    assert err.value.code == "insufficient_quota"
    assert err.value.type == "insufficient_quota"
    # Without max_tokens the model's default (16384 output tokens, ~$0.16) is reserved: over this budget.
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    rows = limited.usage(5)
    assert [round(r.cost_usd, 7) for r in rows if r.status == 200] == [0.0000975] * 3
    assert all(r.cost_usd is None for r in rows if r.status == 429)


def test_budget_refuses_unpriced_model_at_request_time(limited: Limited) -> None:
    limited.member("alice")
    c = client(limited, limited_key(limited, budget_usd=5))
    with pytest.raises(openai.BadRequestError) as err:
        c.chat.completions.create(model="my-local-llama", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "model_not_priced"
    assert limited.upstream.requests == []


def test_streams_settle_with_their_usage(limited: Limited) -> None:
    limited.member("alice")
    c = client(limited, limited_key(limited, tpm=100_000, budget_usd=1))
    chunks = list(c.chat.completions.create(**CHAT, stream=True, max_tokens=50))
    assert chunks
    rows = limited.usage(1)
    assert (rows[-1].stream, rows[-1].prompt_tokens, rows[-1].completion_tokens) == (True, 11, 7)
    assert rows[-1].cost_usd == pytest.approx((11 * 0.15 + 7 * 0.60) / 1e6, abs=1e-6)


def test_keys_without_limits_are_untouched(limited: Limited) -> None:
    limited.member("alice")
    reply = client(limited, limited.key("alice")).chat.completions.with_raw_response.create(**CHAT)
    assert "x-ratelimit-limit-requests" not in reply.headers


@pytest.mark.redis
def test_redis_down_fails_closed_and_recovers(
    tmp_path: Path, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> None:
    port = free_port()
    stack = _stack(tmp_path, capture_upstream, redis_url=f"redis://127.0.0.1:{port}/0", limits_timeout=0.3)
    redis_server: subprocess.Popen[bytes] | None = None
    try:
        stack.member("alice")
        limited_one = limited_key(stack, rpm=100)
        free_one = stack.key("alice")
        with pytest.raises(openai.InternalServerError) as err:
            client(stack, limited_one).chat.completions.create(**CHAT)
        assert err.value.status_code == 503
        assert err.value.code == "limits_unavailable"
        assert "limits backend is unreachable" in err.value.message
        assert stack.upstream.requests == []
        # Keys without limits keep working while Redis is down.
        client(stack, free_one).chat.completions.create(**CHAT)
        redis_server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                client(stack, limited_one).chat.completions.create(**CHAT)
                break
            except openai.InternalServerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        if redis_server is not None:
            redis_server.terminate()
            redis_server.wait(10)
        stack.gateway.stop()
        stack.cp.store.dispose()
