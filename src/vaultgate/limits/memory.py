"""The in-process backend: exact for one process, because a decision never awaits.

``admit`` and ``settle`` run start to finish without yielding to the event loop, so no
two requests of the same process interleave between check and charge. Several worker
processes each keep their own counters: use the Redis backend for ``--workers N``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from vaultgate.limits.interface import BUCKETS, Admission, Demand, LimiterBackend


def period_id(period: str, unix_seconds: float) -> str:
    """The UTC budget period a moment falls in: ``d20260131`` or ``m202601``."""
    moment = datetime.fromtimestamp(unix_seconds, UTC)
    return moment.strftime("d%Y%m%d") if period == "day" else moment.strftime("m%Y%m")


def period_end(period: str, unix_seconds: float) -> float:
    """When the UTC period containing ``unix_seconds`` ends (unix seconds)."""
    moment = datetime.fromtimestamp(unix_seconds, UTC)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return start.timestamp() + 86400
    first = start.replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    )
    return following.timestamp()


@dataclass
class _Window:
    """Counts per one-second bucket over the last ``BUCKETS`` seconds, with their running total.

    Change the counts only through :meth:`add` and :meth:`adjust`, which keep ``total`` equal
    to the sum of ``buckets``.
    """

    buckets: dict[int, int] = field(default_factory=dict)
    total: int = 0
    # The second of the last expiry pass: buckets are only ever added at a second just passed
    # to used(), so a second pass for the same second would find nothing to expire.
    expired_at: int | None = None

    def used(self, second: int) -> int:
        if second != self.expired_at:
            cutoff = second - BUCKETS
            for b in [b for b in self.buckets if b <= cutoff]:
                self.total -= self.buckets.pop(b)
            self.expired_at = second
        return self.total

    def add(self, second: int, amount: int) -> None:
        self.buckets[second] = self.buckets.get(second, 0) + amount
        self.total += amount

    def adjust(self, second: int, delta: int) -> None:
        """Correct a bucket that still counts (settlement); an expired one no longer matters."""
        if second in self.buckets:
            self.buckets[second] += delta
            self.total += delta

    def wait(self, now: float, need: int) -> float:
        """Seconds until ``need`` units have left the window (the oldest buckets first)."""
        freed = 0
        for b in sorted(self.buckets):
            freed += self.buckets[b]
            if freed >= need:
                return max(0.0, b + BUCKETS - now)
        return float(BUCKETS)

    def oldest_expiry(self, now: float) -> float:
        return max(0.0, min(self.buckets) + BUCKETS - now) if self.buckets else 0.0


@dataclass
class _Scope:
    requests: _Window = field(default_factory=_Window)
    tokens: _Window = field(default_factory=_Window)
    leases: dict[str, float] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)  # period id -> micro-USD (spent + reserved)


class MemoryBackend(LimiterBackend):
    """Counters in a dict of this process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._scopes: dict[str, _Scope] = {}

    def _scope(self, name: str) -> _Scope:
        scope = self._scopes.get(name)
        if scope is None:
            scope = self._scopes[name] = _Scope()
        return scope

    async def admit(self, demand: Demand) -> Admission:
        """Check all, then charge all; nothing in between yields."""
        return self.admit_now(demand)

    def admit_now(self, demand: Demand) -> Admission:
        """The synchronous decision (also used by tests and benchmarks)."""
        now = self._clock()
        second = int(now)
        head: dict[str, tuple[int, int, float]] = {}  # kind -> (limit, remaining, reset) of the tightest scope
        periods: list[str] = []
        for sd in demand.scopes:
            lim, scope = sd.limits, self._scope(sd.scope)
            for kind, limit, window, amount in (
                ("requests", lim.rpm, scope.requests, 1),
                ("tokens", lim.tpm, scope.tokens, demand.tokens),
            ):
                if limit is None:
                    continue
                used = window.used(second)
                if used + amount > limit:
                    wait = window.wait(now, used + amount - limit) if amount <= limit else float(BUCKETS)
                    return _admission(False, kind, wait, {kind: (limit, 0, window.oldest_expiry(now))})
                remaining = limit - used - amount
                if kind not in head or remaining < head[kind][1]:
                    head[kind] = (limit, remaining, window.oldest_expiry(now) or float(BUCKETS))
            if lim.concurrency is not None:
                for rid in [r for r, until in scope.leases.items() if until <= now]:
                    del scope.leases[rid]
                if len(scope.leases) >= lim.concurrency:
                    return Admission(False, "concurrency", 1.0)
            cap = lim.budget_micro_usd
            if cap is not None:
                pid = period_id(lim.budget_period, now)
                if scope.spent.get(pid, 0) + demand.cost_micro_usd > cap:
                    return Admission(False, "budget", period_end(lim.budget_period, now) - now)
                periods.append(pid)
            else:
                periods.append("")
        for sd, pid in zip(demand.scopes, periods, strict=True):
            lim, scope = sd.limits, self._scope(sd.scope)
            if lim.rpm is not None:
                scope.requests.add(second, 1)
            if lim.tpm is not None:
                scope.tokens.add(second, demand.tokens)
            if lim.concurrency is not None:
                scope.leases[demand.request_id] = now + demand.lease_seconds
            if pid:
                for old in [p for p in scope.spent if p != pid and p[0] == pid[0]]:
                    del scope.spent[old]  # a past period of the same kind is over
                scope.spent[pid] = scope.spent.get(pid, 0) + demand.cost_micro_usd
        return _admission(True, None, 0.0, head, second, tuple(periods))

    async def renew(self, demands: Sequence[Demand], lease_seconds: float) -> None:
        """Extend the leases of requests still holding one."""
        until = self._clock() + lease_seconds
        for demand in demands:
            for sd in demand.scopes:
                leases = self._scope(sd.scope).leases
                if demand.request_id in leases:
                    leases[demand.request_id] = until

    async def settle(self, demand: Demand, admission: Admission, tokens: int, cost_micro_usd: int) -> None:
        """Release the lease and correct tokens and spend."""
        for sd, pid in zip(demand.scopes, admission.periods, strict=True):
            scope = self._scope(sd.scope)
            scope.leases.pop(demand.request_id, None)
            if sd.limits.tpm is not None:
                scope.tokens.adjust(admission.bucket, tokens - demand.tokens)
            if pid and pid in scope.spent:
                scope.spent[pid] += cost_micro_usd - demand.cost_micro_usd

    def spent(self, scope: str, period: str) -> int:
        """Micro-USD spent and reserved by a scope in a period id (for tests and reports)."""
        return self._scope(scope).spent.get(period, 0)


def _admission(
    admitted: bool,
    reason: str | None,
    retry: float,
    head: dict[str, tuple[int, int, float]],
    bucket: int = 0,
    periods: tuple[str, ...] = (),
) -> Admission:
    req, tok = head.get("requests"), head.get("tokens")
    return Admission(
        admitted,
        reason,
        retry,
        limit_requests=req[0] if req else None,
        remaining_requests=max(0, req[1]) if req else None,
        reset_requests=req[2] if req else None,
        limit_tokens=tok[0] if tok else None,
        remaining_tokens=max(0, tok[1]) if tok else None,
        reset_tokens=tok[2] if tok else None,
        bucket=bucket,
        periods=periods,
    )
