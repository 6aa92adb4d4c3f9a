"""The two limiter backends against the same behaviour: exact under concurrency, sliding windows, budgets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from vaultgate.limits.interface import Admission, Demand, LimiterBackend, LimitsUnavailable, ScopeDemand
from vaultgate.limits.memory import MemoryBackend, period_end, period_id
from vaultgate.limits.rules import Limits
from vaultgate.limits.shared import RedisBackend


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[LimiterBackend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    url = request.getfixturevalue("redis_url")
    yield RedisBackend(url, prefix=request.getfixturevalue("redis_prefix"))


def demand(rid: str, limits: Limits, *, tokens: int = 0, cost: int = 0, scopes: tuple[str, ...] = ("k:1",)) -> Demand:
    return Demand(rid, tuple(ScopeDemand(s, limits) for s in scopes), tokens, cost, 30.0)


async def burst(backend: LimiterBackend, demands: list[Demand]) -> list[Admission]:
    try:
        return list(await asyncio.gather(*(backend.admit(d) for d in demands)))
    finally:
        await backend.stop()


def test_exactly_rpm_requests_are_admitted_under_concurrency(backend: LimiterBackend) -> None:
    results = asyncio.run(burst(backend, [demand(f"r{i}", Limits(rpm=50)) for i in range(200)]))
    admitted = [a for a in results if a.admitted]
    assert len(admitted) == 50
    refused = [a for a in results if not a.admitted]
    assert {a.reason for a in refused} == {"requests"}
    assert all(0 < a.retry_after <= 61 for a in refused)
    assert sorted(a.remaining_requests for a in admitted) == list(range(50))
    assert all(a.limit_requests == 50 for a in admitted)


def test_tokens_per_minute_and_a_request_larger_than_the_limit(backend: LimiterBackend) -> None:
    limits = Limits(tpm=1000)
    results = asyncio.run(burst(backend, [demand(f"r{i}", limits, tokens=300) for i in range(5)]))
    assert [a.admitted for a in results].count(True) == 3
    assert {a.reason for a in results if not a.admitted} == {"tokens"}
    big = asyncio.run(burst(backend, [demand("big", Limits(tpm=100), tokens=101, scopes=("k:2",))]))[0]
    assert not big.admitted and big.reason == "tokens" and big.retry_after == 61


def test_every_scope_must_pass_and_a_refusal_charges_nothing(backend: LimiterBackend) -> None:
    async def run() -> tuple[list[bool], bool]:
        # The member allows 3, the key 10: the member's limit binds.
        member = ScopeDemand("m:1", Limits(rpm=3))
        key = ScopeDemand("k:1", Limits(rpm=10))
        out = []
        for i in range(5):
            out.append((await backend.admit(Demand(f"a{i}", (key, member), 0, 0, 30.0))).admitted)
        # A second key of the same member: refused by the member scope; its own key scope stays untouched.
        other = ScopeDemand("k:2", Limits(rpm=1))
        refused = await backend.admit(Demand("b", (other, member), 0, 0, 30.0))
        alone = await backend.admit(Demand("c", (other,), 0, 0, 30.0))
        await backend.stop()
        return out, (not refused.admitted) and alone.admitted

    admitted, untouched = asyncio.run(run())
    assert admitted == [True, True, True, False, False]
    assert untouched


def test_concurrency_lease_is_released_at_settlement(backend: LimiterBackend) -> None:
    async def run() -> list[bool]:
        limits = Limits(concurrency=2)
        d = [demand(f"c{i}", limits) for i in range(4)]
        first = [await backend.admit(x) for x in d[:3]]
        await backend.settle(d[0], first[0], 0, 0)
        fourth = await backend.admit(d[3])
        await backend.stop()
        return [a.admitted for a in first] + [fourth.admitted]

    assert asyncio.run(run()) == [True, True, False, True]


def test_budget_reserves_worst_case_and_settles_to_real_cost(backend: LimiterBackend) -> None:
    async def run() -> tuple[list[bool], bool, int]:
        limits = Limits(budget_usd=0.001)  # 1000 micro-USD
        batch = [demand(f"b{i}", limits, cost=300) for i in range(5)]
        first = await asyncio.gather(*(backend.admit(d) for d in batch))
        # Settle the admitted ones at their real (smaller) cost: room frees up.
        for d, a in zip(batch, first, strict=True):
            if a.admitted:
                await backend.settle(d, a, 0, 100)
        again = await backend.admit(demand("b-again", limits, cost=300))
        pid = again.periods[0]
        spent = backend.spent("k:1", pid) if isinstance(backend, MemoryBackend) else await backend.spent("k:1", pid)
        await backend.stop()
        return [a.admitted for a in first], again.admitted, spent

    first, again, spent = asyncio.run(run())
    assert first.count(True) == 3  # 3 x 300 <= 1000 < 4 x 300
    assert again
    assert spent == 3 * 100 + 300


def test_overshoot_is_bounded_by_what_was_admitted_before_the_cap(backend: LimiterBackend) -> None:
    """Requests without max_tokens may cost more than reserved: the cap is passed by at most their cost."""

    async def run() -> tuple[int, int, bool]:
        limits = Limits(budget_usd=0.001)
        batch = [demand(f"o{i}", limits, cost=100) for i in range(20)]
        admitted = [
            (d, a)
            for d, a in zip(batch, await asyncio.gather(*(backend.admit(d) for d in batch)), strict=True)
            if a.admitted
        ]
        for d, a in admitted:
            await backend.settle(d, a, 0, 150)  # each cost 50% more than its reservation
        pid = admitted[0][1].periods[0]
        spent = backend.spent("k:1", pid) if isinstance(backend, MemoryBackend) else await backend.spent("k:1", pid)
        later = await backend.admit(demand("late", limits, cost=1))
        await backend.stop()
        return len(admitted), spent, later.admitted

    count, spent, later = asyncio.run(run())
    assert count == 10
    assert 1000 < spent <= 1000 + count * 150  # over the cap only by requests admitted before it was reached
    assert not later  # and nothing more gets in


def test_memory_window_slides_and_reports_retry_after() -> None:
    clock = FakeClock()
    backend = MemoryBackend(clock)
    limits = Limits(rpm=2)
    assert backend.admit_now(demand("a", limits)).admitted
    clock.now += 30
    assert backend.admit_now(demand("b", limits)).admitted
    refused = backend.admit_now(demand("c", limits))
    assert not refused.admitted and 30 < refused.retry_after <= 31
    clock.now += refused.retry_after
    assert backend.admit_now(demand("d", limits)).admitted
    # No 60-second span ever holds more than the limit: "b" still counts.
    assert not backend.admit_now(demand("e", limits)).admitted


def test_memory_budget_periods_roll_over_in_utc() -> None:
    clock = FakeClock(datetime(2027, 1, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    backend = MemoryBackend(clock)
    limits = Limits(budget_usd=0.0001, budget_period="day")
    assert backend.admit_now(demand("a", limits, cost=100)).admitted
    assert not backend.admit_now(demand("b", limits, cost=1)).admitted
    clock.now += 1
    fresh = backend.admit_now(demand("c", limits, cost=100))
    assert fresh.admitted and fresh.periods == ("d20270201",)
    assert period_id("month", clock.now) == "m202702"
    assert period_end("month", clock.now) == datetime(2027, 3, 1, tzinfo=UTC).timestamp()


@pytest.mark.redis
def test_redis_windows_and_periods_come_from_redis_time(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with redis.Redis.from_url(redis_url) as client:
        server_seconds = int(client.time()[0])
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 40 * 86400)  # this host's clock is 40 days off

    async def run() -> Admission:
        backend = RedisBackend(redis_url, prefix=redis_prefix)
        try:
            return await backend.admit(demand("t", Limits(rpm=5, budget_usd=1, budget_period="day")))
        finally:
            await backend.stop()

    admission = asyncio.run(run())
    assert admission.admitted
    assert abs(admission.bucket - server_seconds) <= 2
    assert admission.periods == (period_id("day", admission.bucket),)


def test_redis_unreachable_raises_limits_unavailable() -> None:
    async def run() -> None:
        backend = RedisBackend("redis://127.0.0.1:1/0", timeout=0.2)
        try:
            await backend.admit(demand("x", Limits(rpm=1)))
        finally:
            await backend.stop()

    started = time.monotonic()
    with pytest.raises(LimitsUnavailable):
        asyncio.run(run())
    assert time.monotonic() - started < 5
