"""The circuit breaker per deployment, on an injected clock (no test sleeps)."""

from __future__ import annotations

import logging

import pytest

from vaultgate.upstream.breaker import BreakerState, CircuitBreakers

KEY = "primary/gpt-4o"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_of_consecutive_failures_only() -> None:
    clock = Clock()
    breakers = CircuitBreakers(threshold=3, cool_down=30, clock=clock)
    breakers.failed(KEY)
    breakers.failed(KEY)
    breakers.succeeded(KEY)  # not consecutive: counting starts again
    breakers.failed(KEY)
    breakers.failed(KEY)
    assert breakers.state(KEY) is BreakerState.CLOSED and breakers.acquire(KEY)
    breakers.failed(KEY)
    assert breakers.state(KEY) is BreakerState.OPEN
    assert not breakers.acquire(KEY)
    assert breakers.retry_after(KEY) == 30
    assert breakers.acquire("other/gpt-4o"), "one breaker per deployment"


def test_half_open_lets_exactly_one_probe_through_and_its_outcome_decides(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breakers = CircuitBreakers(threshold=1, cool_down=30, clock=clock)
    with caplog.at_level(logging.WARNING, logger="vaultgate.upstream.breaker"):
        breakers.failed(KEY)
        clock.now += 30
        assert breakers.state(KEY) is BreakerState.HALF_OPEN
        assert breakers.acquire(KEY), "the probe"
        assert not breakers.acquire(KEY), "others skip it while the probe runs"
        breakers.failed(KEY)  # the probe failed: a whole new cool-down
        assert breakers.state(KEY) is BreakerState.OPEN and breakers.retry_after(KEY) == 30
        clock.now += 30
        assert breakers.acquire(KEY)
        breakers.succeeded(KEY)
    assert breakers.state(KEY) is BreakerState.CLOSED
    assert breakers.acquire(KEY) and breakers.acquire(KEY)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert f"{KEY} opened" in messages[0] and f"{KEY} re-opened" in messages[1] and f"{KEY} closed" in messages[2]


def test_a_probe_abandoned_without_an_outcome_lets_the_next_request_probe() -> None:
    clock = Clock()
    breakers = CircuitBreakers(threshold=1, cool_down=5, clock=clock)
    breakers.failed(KEY)
    clock.now += 5
    assert breakers.acquire(KEY)
    breakers.abandoned(KEY)  # its client hung up
    assert breakers.acquire(KEY)
    assert not breakers.acquire(KEY)
    assert breakers.open_count() == 1
