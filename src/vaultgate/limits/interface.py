"""The limiter backend axis: what a backend is asked, what it answers, and how it fails.

LimitsError            a limit value cannot be saved (bad number, unknown period, unpriced model)
LimitsUnavailable      the backend cannot decide now (Redis unreachable): the gateway fails closed

A backend decides one :class:`Demand` atomically (every check of every scope, then every
charge, or nothing) and settles it later with the real numbers. Windows and budget periods
come from the backend's own clock (Redis ``TIME`` for the shared backend), so replicas with
skewed host clocks still agree.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vaultgate.limits.rules import Limits

# Requests and tokens are counted in one-second buckets; a bucket counts for WINDOW + 1
# seconds, so no 60-second span ever holds more than the limit (conservative by < 1 s).
WINDOW_SECONDS = 60
BUCKETS = WINDOW_SECONDS + 1


class LimitsError(ValueError):
    """A limit cannot be saved; the message names the field or model and the bad value."""


class LimitsUnavailable(Exception):
    """The backend could not be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class ScopeDemand:
    """One level (key, member or team) a request is charged to, with that level's limits."""

    scope: str  # "k:<key id>", "m:<member id>" or "t:<team id>"
    limits: Limits


@dataclass(frozen=True, slots=True)
class Demand:
    """What one request asks for: a request slot, tokens, a concurrency lease, a budget reservation."""

    request_id: str
    scopes: tuple[ScopeDemand, ...]
    tokens: int
    cost_micro_usd: int
    lease_seconds: float


@dataclass(frozen=True, slots=True)
class Admission:
    """A backend's answer. When refused, ``reason`` is requests, tokens, concurrency or budget."""

    admitted: bool
    reason: str | None = None
    retry_after: float = 0.0
    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None
    bucket: int = 0  # the second the tokens were charged to (corrected at settlement)
    periods: tuple[str, ...] = ()  # per scope: the budget period charged ("" when none)


class LimiterBackend(abc.ABC):
    """Counts and decides; memory (one process) or Redis (any number of replicas)."""

    @abc.abstractmethod
    async def admit(self, demand: Demand) -> Admission:
        """Check every limit of every scope and charge them all, atomically; or charge nothing."""

    @abc.abstractmethod
    async def settle(self, demand: Demand, admission: Admission, tokens: int, cost_micro_usd: int) -> None:
        """Release the lease; replace the estimated tokens and the reserved cost with the real ones."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections (optional)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Close connections (optional)."""

    @abc.abstractmethod
    async def renew(self, demands: Sequence[Demand], lease_seconds: float) -> None:
        """Extend the concurrency leases of requests still running to ``lease_seconds`` from now
        (a lease already released stays released)."""

    async def reachable(self) -> bool:
        """Whether the backend answers now (``/readyz``); in-process counters always do."""
        return True
