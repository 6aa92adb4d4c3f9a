"""The token source with an injected clock: refresh before expiry, one fetch at a time, revocation is final."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from vaultgate.client.errors import ExchangeLimited, GatewayUnreachable, KeyRefused, UsageProblem
from vaultgate.client.gateway_api import ShortLivedToken
from vaultgate.client.gateway_url import normalise
from vaultgate.client.token_source import TokenSource, refresh_margin


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Gateway:
    """A fetch that counts and can be told to fail."""

    def __init__(self, lifetime: float = 900) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.failure: Exception | None = None
        self.gate: threading.Event | None = None

    def __call__(self) -> ShortLivedToken:
        if self.gate is not None:
            self.gate.wait(30)
        if self.failure is not None:
            raise self.failure
        self.calls += 1
        return ShortLivedToken(f"vgt_{self.calls}", 2_000_000_000, self.lifetime)


def source(gateway: Callable[[], ShortLivedToken], clock: Clock) -> TokenSource:
    return TokenSource(gateway, clock=clock)


def test_refresh_margin_is_a_fifth_at_least_ten_seconds_at_most_half() -> None:
    assert refresh_margin(900) == 180
    assert refresh_margin(30) == 10
    assert refresh_margin(2) == 1
    assert refresh_margin(3600) == 720


def test_the_token_is_reused_then_refreshed_before_it_expires() -> None:
    clock, gateway = Clock(), Gateway(lifetime=900)
    tokens = source(gateway, clock)
    assert tokens.token() == "vgt_1"
    clock.now += 719  # 181 s left: more than the margin
    assert tokens.token() == "vgt_1" and gateway.calls == 1
    clock.now += 2  # 179 s left
    assert tokens.token() == "vgt_2" and gateway.calls == 2


def test_a_failed_refresh_keeps_serving_the_living_token_and_retries_later() -> None:
    clock, gateway = Clock(), Gateway(lifetime=100)
    tokens = source(gateway, clock)
    tokens.token()
    clock.now += 95
    gateway.failure = GatewayUnreachable("down")
    assert tokens.token() == "vgt_1"
    gateway.failure = None
    assert tokens.token() == "vgt_1" and gateway.calls == 1  # not before the retry pause
    clock.now += 2.5
    assert tokens.token() == "vgt_2"
    clock.now += 200  # the token ended and the gateway is down: an error, not a dead token
    gateway.failure = GatewayUnreachable("down")
    with pytest.raises(GatewayUnreachable):
        tokens.token()


def test_the_exchange_limit_is_honoured_until_retry_after() -> None:
    clock, gateway = Clock(), Gateway(lifetime=60)
    tokens = source(gateway, clock)
    gateway.failure = ExchangeLimited("too many", retry_after=30)
    with pytest.raises(ExchangeLimited):
        tokens.token()
    gateway.failure = None
    with pytest.raises(ExchangeLimited):
        tokens.token()  # not asked again before retry-after
    assert gateway.calls == 0
    clock.now += 31
    assert tokens.token() == "vgt_1"


def test_a_refused_key_ends_the_source_for_good() -> None:
    clock, gateway = Clock(), Gateway(lifetime=60)
    tokens = source(gateway, clock)
    tokens.token()
    clock.now += 55
    gateway.failure = KeyRefused()
    with pytest.raises(KeyRefused, match="run `vaultgate login` again"):
        tokens.token()
    gateway.failure = None
    clock.now += 1000
    with pytest.raises(KeyRefused):
        tokens.token()
    assert gateway.calls == 1


def test_a_token_the_gateway_refused_is_not_served_again() -> None:
    clock, gateway = Clock(), Gateway()
    tokens = source(gateway, clock)
    tokens.refused(tokens.token())
    assert tokens.token() == "vgt_2"
    tokens.refused("vgt_1")  # an older token: nothing to drop
    assert tokens.token() == "vgt_2"


def test_threads_share_one_refresh() -> None:
    clock, gateway = Clock(), Gateway()
    tokens = source(gateway, clock)
    gateway.gate = threading.Event()
    got: list[str] = []
    workers = [threading.Thread(target=lambda: got.append(tokens.token())) for _ in range(8)]
    for worker in workers:
        worker.start()
    gateway.gate.set()
    for worker in workers:
        worker.join(30)
    assert got == ["vgt_1"] * 8 and gateway.calls == 1


def test_coroutines_share_one_refresh_without_blocking_the_loop() -> None:
    clock, gateway = Clock(), Gateway()
    tokens = source(gateway, clock)
    gateway.gate = threading.Event()

    async def main() -> list[str]:
        waiting = [asyncio.create_task(tokens.atoken()) for _ in range(8)]
        await asyncio.sleep(0)  # the loop runs while the fetch waits in a thread
        assert gateway.gate is not None
        gateway.gate.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(main()) == ["vgt_1"] * 8 and gateway.calls == 1


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://Gateway.Example.com/", "https://gateway.example.com"),
        ("https://gateway.example.com/v1", "https://gateway.example.com"),
        ("https://example.com/vaultgate/v1/", "https://example.com/vaultgate"),
    ],
)
def test_gateway_urls_are_normalised(given: str, expected: str) -> None:
    assert normalise(given) == expected


@pytest.mark.parametrize(
    "given",
    ["gateway.example.com", "ftp://x", "https://user:pw@x", "https://x/?q=1", "http://10.0.0.1", "http://127.0.0.1"],
)
def test_unusable_or_unsafe_gateway_urls_are_refused(given: str) -> None:
    with pytest.raises(UsageProblem):
        normalise(given)
    assert normalise("http://127.0.0.1:8080", allow_insecure_http=True) == "http://127.0.0.1:8080"
