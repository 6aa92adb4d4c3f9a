"""The failover loop over two real loopback upstreams (real HTTP client and adapter), with an injected
clock, sleep and seeded random source: which deployment gets what, how long the loop waits, what the
client is answered.

Routing returns one deployment on this branch (``vaultgate route add`` is being built alongside), so
failover between deployments is tested here, at the loop, with deployments constructed directly.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tests.support.faults import Fault, FaultUpstream
from tests.support.servers import free_port

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.failover import Failover
from vaultgate.upstream.breaker import BreakerState, CircuitBreakers
from vaultgate.upstream.config import Deployment, ProviderConfig, ProviderKind
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProxyRequest, UpstreamResponse
from vaultgate.upstream.openai import OpenAIAdapter
from vaultgate.upstream.retry import RetryPolicy, backoff

BODY = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})


class Clock:
    """Monotonic seconds that only the fake sleep moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def upstreams() -> Iterator[tuple[FaultUpstream, FaultUpstream]]:
    first, second = FaultUpstream("first").start(), FaultUpstream("second").start()
    yield first, second
    first.stop()
    second.stop()


def deployment(name: str, url: str, key: str = "sk-test") -> Deployment:
    return Deployment(ProviderConfig(name, ProviderKind.COMPATIBLE, url + "/v1", api_key=key))


def exchange(method: str = "POST") -> Exchange:
    path = "/v1/chat/completions" if method == "POST" else "/v1/models"
    return Exchange(method, path, b"", {}, None)


async def run(
    failover: Failover,
    deployments: list[Deployment],
    method: str = "POST",
) -> tuple[Exchange, int, bytes]:
    """One request through the loop with a real client; the answer's status and body."""
    client = UpstreamClient(timeout=5, connect_timeout=5)
    await client.start()
    adapter = OpenAIAdapter(client)
    ex = exchange(method)
    path = "/chat/completions" if method == "POST" else "/models"

    async def send(d: Deployment) -> UpstreamResponse:
        request = ProxyRequest(method, "x", path, b"", [], BODY if method == "POST" else b"", "gpt-4o", False)
        return await adapter.send(d.provider, request)

    try:
        response = await failover.forward(ex, deployments, send)
        return ex, response.status, await response.read()
    finally:
        await client.stop()


def failover_with(clock: Clock, seed: int = 3, **policy: Any) -> Failover:
    return Failover(
        RetryPolicy(**{"max_attempts": 3, "budget": 30.0, "backoff_base": 0.5, "backoff_max": 8.0, **policy}),
        CircuitBreakers(threshold=10, cool_down=60, clock=clock),
        rng=random.Random(seed),
        sleep=clock.sleep,
        clock=clock,
    )


def test_retries_one_deployment_with_jittered_backoff_then_fails_over(
    upstreams: tuple[FaultUpstream, FaultUpstream],
) -> None:
    first, second = upstreams
    first.default = "status_500"
    clock = Clock()
    ex, status, body = asyncio.run(run(failover_with(clock), [deployment("a", first.url), deployment("b", second.url)]))
    assert status == 200 and orjson.loads(body)["choices"][0]["message"]["content"] == "from second"
    assert first.count() == 3 and second.count() == 1
    assert ex.provider is not None and ex.provider.name == "b"
    reference = random.Random(3)
    policy = RetryPolicy()
    assert clock.waits == [backoff(policy, 1, reference), backoff(policy, 2, reference)], "no wait before failover"


def test_an_unreachable_deployment_is_retried_then_left(upstreams: tuple[FaultUpstream, FaultUpstream]) -> None:
    _, second = upstreams
    clock = Clock()
    closed = f"http://127.0.0.1:{free_port()}"
    _, status, _ = asyncio.run(run(failover_with(clock), [deployment("a", closed), deployment("b", second.url)]))
    assert status == 200 and second.count() == 1
    assert len(clock.waits) == 2, "two retries of the refused connection, then the next deployment"


def test_a_post_that_may_have_been_processed_goes_nowhere_else(upstreams: tuple[FaultUpstream, FaultUpstream]) -> None:
    first, second = upstreams
    first.script("close_after_body")
    with pytest.raises(GatewayError) as raised:
        asyncio.run(run(failover_with(Clock()), [deployment("a", first.url), deployment("b", second.url)]))
    assert (raised.value.status, raised.value.code) == (502, "upstream_unavailable")
    assert first.count() == 1 and second.count() == 0


def test_a_get_may_go_elsewhere_after_a_dropped_connection(upstreams: tuple[FaultUpstream, FaultUpstream]) -> None:
    first, second = upstreams
    first.default = "close_after_body"
    _, status, _ = asyncio.run(
        run(failover_with(Clock(), max_attempts=1), [deployment("a", first.url), deployment("b", second.url)], "GET")
    )
    # aiohttp itself sends an idempotent request once more on a broken connection (RFC 9112 9.3.1): 2 on a.
    assert status == 200 and first.count() == 2 and second.count() == 1


def test_a_refused_credential_is_marked_alerted_once_and_skipped_until_it_changes(
    upstreams: tuple[FaultUpstream, FaultUpstream],
) -> None:
    first, second = upstreams
    first.default = "status_401"
    alerts: list[str] = []
    clock = Clock()
    failover = failover_with(clock)
    failover._on_credential_refused = alerts.append
    deployments = [deployment("a", first.url), deployment("b", second.url)]
    for _ in range(2):
        _, status, _ = asyncio.run(run(failover, deployments))
        assert status == 200
    assert first.count() == 1 and second.count() == 2 and alerts == ["a"]
    assert clock.waits == [], "a refused credential is never retried"
    rotated = [deployment("a", first.url, key="sk-rotated"), deployment("b", second.url)]
    first.default = "ok"
    _, status, body = asyncio.run(run(failover, rotated))
    assert status == 200 and b"from first" in body and first.count() == 2


def test_every_deployment_refusing_its_credential_is_the_gateways_502(
    upstreams: tuple[FaultUpstream, FaultUpstream],
) -> None:
    first, _ = upstreams
    first.default = "status_401"
    with pytest.raises(GatewayError) as raised:
        asyncio.run(run(failover_with(Clock()), [deployment("a", first.url)]))
    assert raised.value.code == "upstream_auth_failed"


def test_open_circuits_are_skipped_and_all_open_is_a_503_with_retry_after(
    upstreams: tuple[FaultUpstream, FaultUpstream],
) -> None:
    first, second = upstreams
    clock = Clock()
    failover = failover_with(clock, max_attempts=1)
    failover.breakers.threshold = 1
    a, b = deployment("a", first.url), deployment("b", second.url)
    first.default = "status_503"
    _, status, _ = asyncio.run(run(failover, [a, b]))
    assert status == 200 and failover.breakers.state(a.key) is BreakerState.OPEN
    _, status, _ = asyncio.run(run(failover, [a, b]))
    assert status == 200 and first.count() == 1 and second.count() == 2, "the open deployment got nothing"
    second.default = "status_503"
    _, status, _ = asyncio.run(run(failover, [b]))  # the last answer is relayed; b opens too
    assert status == 503
    clock.now += 20
    with pytest.raises(GatewayError) as raised:
        asyncio.run(run(failover, [a, b]))
    assert (raised.value.status, raised.value.code) == (503, "upstream_circuit_open")
    assert dict(raised.value.headers)[b"retry-after"] == b"40"
    assert first.count() == 1 and second.count() == 3


def test_no_attempt_starts_after_the_budget(upstreams: tuple[FaultUpstream, FaultUpstream]) -> None:
    first, second = upstreams
    first.default = Fault("status_429", {"retry_after": 4})
    clock = Clock()
    _, status, _ = asyncio.run(
        run(failover_with(clock, max_attempts=5, budget=6), [deployment("a", first.url), deployment("b", second.url)])
    )
    # 0 s, 4 s; a wait to 8 s would pass the budget, so b is tried at once (still within it).
    assert status == 200 and first.count() == 2 and second.count() == 1 and clock.waits == [4.0]
    clock.now = 0
    second.default = Fault("status_429", {"retry_after": 4})
    first.requests.clear()
    _, status, _ = asyncio.run(
        run(failover_with(clock, max_attempts=5, budget=3), [deployment("a", first.url), deployment("b", second.url)])
    )
    assert status == 429 and clock.waits == [4.0], "nothing waited within a 3 s budget; b answered 429 too"


def test_a_cancelled_wait_ends_the_request_at_once(upstreams: tuple[FaultUpstream, FaultUpstream]) -> None:
    first, _ = upstreams
    first.default = "status_500"

    async def scenario() -> None:
        waiting = asyncio.Event()

        async def sleep(seconds: float) -> None:
            waiting.set()
            await asyncio.Event().wait()  # a wait nothing ends but cancellation

        failover = failover_with(Clock())
        failover._sleep = sleep
        task = asyncio.create_task(run(failover, [deployment("a", first.url)]))
        await waiting.wait()
        task.cancel()  # a kill switch, or the client hanging up (streams.RunningRequests)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert first.count() == 1

    asyncio.run(scenario())


def test_a_probe_cancelled_in_flight_lets_the_next_request_probe(
    upstreams: tuple[FaultUpstream, FaultUpstream],
) -> None:
    first, _ = upstreams
    first.script("slow")
    clock = Clock()

    async def scenario() -> None:
        failover = failover_with(clock)
        failover.breakers.threshold = 1
        a = deployment("a", first.url)
        failover.breakers.failed(a.key)
        clock.now += 60  # half-open: the next request is the probe
        first.arrived.clear()
        task = asyncio.create_task(run(failover, [a]))
        assert await asyncio.to_thread(first.arrived.wait, 10)
        assert not failover.breakers.acquire(a.key), "one probe at a time"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert failover.breakers.acquire(a.key), "the cancelled probe left no verdict and freed its slot"

    asyncio.run(scenario())
