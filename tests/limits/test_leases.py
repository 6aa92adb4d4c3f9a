"""Concurrency leases never outlive their request by more than a lease time, also through a Redis outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.support.redis_server import PrivateRedis
from vaultgate.limits.admission import Limiter, LimitRefused
from vaultgate.limits.memory import MemoryBackend
from vaultgate.limits.rules import Limits, ScopedLimits
from vaultgate.limits.shared import RedisBackend
from vaultgate.usage.pricing import PriceTable

ONE_AT_A_TIME = ScopedLimits(key=Limits(concurrency=1), member=Limits(), team=Limits())
IDS = ("key1", "mem1", None)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    yield server
    server.stop()


async def admitted(limiter: Limiter, rid: str) -> bool:
    try:
        await limiter.admit(ONE_AT_A_TIME, IDS, rid, "gpt-4o", None)
    except LimitRefused:
        return False
    return True


def test_a_running_request_keeps_its_lease_and_a_finished_one_frees_it() -> None:
    clock = Clock()
    limiter = Limiter(MemoryBackend(clock), PriceTable({}), lease_seconds=30)

    async def run() -> list[bool]:
        ticket = await limiter.admit(ONE_AT_A_TIME, IDS, "long", "gpt-4o", None)
        assert ticket is not None
        seen = []
        for _ in range(10):  # a 5-minute stream: the keeper renews it every 10 s
            clock.now += 10
            await limiter.renew_leases()
            seen.append(await admitted(limiter, "other"))
        await limiter.settle(ticket, 200, 1, 1)
        seen.append(await admitted(limiter, "after"))
        return seen

    assert asyncio.run(run()) == [False] * 10 + [True]


def test_a_lost_release_ends_within_one_lease_time() -> None:
    clock = Clock()
    limiter = Limiter(MemoryBackend(clock), PriceTable({}), lease_seconds=30)

    async def run() -> tuple[bool, bool]:
        assert await admitted(limiter, "crashed")
        limiter._held.clear()  # its process is gone: nobody renews or releases it
        clock.now += 29
        before = await admitted(limiter, "early")
        clock.now += 2
        return before, await admitted(limiter, "later")

    assert asyncio.run(run()) == (False, True)


@pytest.mark.redis
def test_a_redis_pause_does_not_leave_the_lease_held(private_redis: PrivateRedis) -> None:
    """The issue's case: Redis paused while requests ended; their releases failed and the leases (660 s
    then) kept the key at its concurrency limit for 11 minutes. Now the release is retried as soon as
    Redis answers again."""
    limiter = Limiter(RedisBackend(private_redis.url, timeout=0.3), PriceTable({}))

    async def run() -> tuple[int, bool, int, bool]:
        try:
            ticket = await limiter.admit(ONE_AT_A_TIME, IDS, "r1", "gpt-4o", None)
            assert ticket is not None
            private_redis.pause()
            try:
                await limiter.settle(ticket, 200, 1, 1)  # fails: Redis does not answer
            finally:
                private_redis.resume()
            waiting = limiter.unsettled
            held = not await admitted(limiter, "r2")
            await limiter.retry_settlements()
            return waiting, held, limiter.unsettled, await admitted(limiter, "r3")
        finally:
            await limiter.backend.stop()

    assert asyncio.run(run()) == (1, True, 0, True)


@pytest.mark.redis
def test_redis_leases_are_renewed_and_expire_without_renewal(private_redis: PrivateRedis) -> None:
    limiter = Limiter(RedisBackend(private_redis.url), PriceTable({}), lease_seconds=4)

    async def run() -> bool:
        try:
            return await exercise()
        finally:
            await limiter.backend.stop()

    async def exercise() -> bool:
        assert await admitted(limiter, "r1")
        start = time.monotonic()
        renewed_past_lease = True
        while time.monotonic() - start < 5:  # past the 4 s lease, renewed every 0.5 s
            await limiter.renew_leases()
            renewed_past_lease = renewed_past_lease and not await admitted(limiter, "probe")
            await asyncio.sleep(0.5)
        limiter._held.clear()  # the process that held it is gone
        stopped = time.monotonic()
        while not await admitted(limiter, "after"):
            assert time.monotonic() - stopped < 30, "the abandoned lease did not expire"
            await asyncio.sleep(0.1)
        return renewed_past_lease

    assert asyncio.run(run()), "a renewed lease expired while its request ran"
