"""When to send a request again, and how long to wait first (pure functions of the answer and a random source).

An upstream *answer* is retried when its status says the request was not processed, the set
the official OpenAI SDKs retry: 408, 409, 429 and every 5xx, unless the upstream sends
``x-should-retry: false`` (``x-should-retry: true`` makes any status retryable, as in the SDKs).
The wait is exponential backoff with full jitter (``uniform(0, min(cap, base * 2**n))``); a
``retry-after-ms`` or ``retry-after`` (seconds, or an HTTP date) from the upstream replaces it
when it is within the cap. A longer one is not waited for: the deployment is left for the next.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The settings of the failover loop (``VAULTGATE_UPSTREAM_*``, docs/CONFIGURATION.md)."""

    # Attempts on one deployment (the first one included) before failing over to the next.
    max_attempts: int = 3
    # Seconds after the first attempt began within which a further attempt may start.
    budget: float = 30.0
    backoff_base: float = 0.5
    # The longest wait before a retry, also for an upstream's retry-after.
    backoff_max: float = 8.0


def retryable_status(status: int, headers: list[tuple[str, str]]) -> bool:
    """Whether an upstream answer says the request was not processed and may be sent again."""
    verdict = next((v.strip().lower() for k, v in headers if k == "x-should-retry"), None)
    if verdict == "false":
        return False
    if verdict == "true":
        return True
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after(headers: list[tuple[str, str]], now: datetime | None = None) -> float | None:
    """Seconds the upstream asks to wait (``retry-after-ms`` first, then ``retry-after``), or None."""
    values = dict(headers)
    try:
        if "retry-after-ms" in values:
            wait = float(values["retry-after-ms"]) / 1000
            return wait if wait >= 0 else None
        raw = values.get("retry-after")
        if raw is None:
            return None
        try:
            wait = float(raw)
        except ValueError:
            when = parsedate_to_datetime(raw)
            wait = (when - (now or datetime.now(UTC))).total_seconds()
            wait = max(wait, 0.0)
    except (ValueError, TypeError, OverflowError):
        return None
    return wait if wait >= 0 and wait == wait else None  # NaN is no answer


def backoff(policy: RetryPolicy, retry: int, rng: random.Random) -> float:
    """The wait before retry number ``retry`` (1 for the first retry): full jitter under the exponential cap."""
    ceiling = min(policy.backoff_max, policy.backoff_base * (2 ** max(retry - 1, 0)))
    return rng.uniform(0.0, ceiling)
