"""Which upstream answers are retried, and how long the gateway waits first (seeded randomness)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from vaultgate.upstream.retry import RetryPolicy, backoff, retry_after, retryable_status


def test_the_statuses_the_sdks_retry_and_the_upstreams_own_verdict() -> None:
    assert [s for s in (400, 401, 404, 408, 409, 422, 429, 500, 502, 503, 504) if retryable_status(s, [])] == [
        408,
        409,
        429,
        500,
        502,
        503,
        504,
    ]
    assert not retryable_status(503, [("x-should-retry", "false")])
    assert retryable_status(400, [("x-should-retry", "true")])


def test_retry_after_in_milliseconds_seconds_or_a_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after([("retry-after-ms", "250")]) == 0.25
    assert retry_after([("retry-after-ms", "250"), ("retry-after", "9")]) == 0.25, "the precise one wins"
    assert retry_after([("retry-after", "2")]) == 2.0
    assert retry_after([("retry-after", "Thu, 01 Jan 2026 12:00:07 GMT")], now) == 7.0
    assert retry_after([("retry-after", "Thu, 01 Jan 2026 11:00:00 GMT")], now) == 0.0
    for bad in ("soon", "-1", "nan", ""):
        assert retry_after([("retry-after", bad)], now) is None, bad
    assert retry_after([]) is None


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    rng = random.Random(7)
    reference = random.Random(7)
    for retry, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)):
        wait = backoff(policy, retry, rng)
        assert wait == reference.uniform(0.0, ceiling)
        assert 0.0 <= wait <= ceiling
