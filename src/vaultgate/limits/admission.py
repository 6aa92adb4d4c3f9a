"""Stage 4 (admit) and the limits half of stage 8 (settle): from a request to a backend decision and back.

Admission charges the key, its member and its team at once: one request slot, the estimated
tokens (prompt + requested output cap), a concurrency lease, and the worst-case cost
(estimated prompt + max output tokens at list price) against each budget. Settlement puts
the real tokens and cost from the upstream's usage in place of the estimates, so a budget
can only be exceeded by requests that were admitted before it was reached, and only when
they produce more than their worst case (never, when the request sets max_tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vaultgate.limits.interface import Admission, Demand, LimiterBackend, LimitsUnavailable, ScopeDemand
from vaultgate.limits.rules import Limits, ScopedLimits
from vaultgate.limits.token_estimate import (
    bytes_estimate,
    estimate_prompt_tokens,
    load_counter,
    requested_output_tokens,
)
from vaultgate.usage.pricing import ModelPrice, PriceTable

log = logging.getLogger("vaultgate.limits")


class LimitRefused(Exception):
    """The request is over a limit; ``admission`` says which and when to retry."""

    def __init__(self, admission: Admission) -> None:
        super().__init__(admission.reason)
        self.admission = admission


class ModelNotPriced(Exception):
    """A budget applies but the model has no price: the cost cannot be bounded, so it is refused."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted request's charges, kept until settlement."""

    demand: Demand
    admission: Admission
    price: ModelPrice | None
    prompt_estimate: int


# A concurrency lease lasts this long unless renewed; the keeper renews running ones every third of it.
LEASE_SECONDS = 30.0
# Settlements that failed (the backend unreachable) are retried for this long, at most this many kept.
SETTLE_RETRY_SECONDS = 3600.0
MAX_UNSETTLED = 10_000


@dataclass(slots=True)
class _Unsettled:
    ticket: Ticket
    tokens: int
    cost: int
    since: float


class Limiter:
    """Turns requests into demands on a backend, and usage into settlements.

    Concurrency leases are short (``lease_seconds``) and renewed while their request runs, so a
    lease outlives its request by at most ``lease_seconds`` even when its release is lost (a
    crashed replica, the backend unreachable when the request ended). A settlement that failed
    is retried in the background until the backend is back, so the lease is released and the
    real tokens and cost replace the estimates as soon as it is (docs/LIMITS.md).
    """

    def __init__(self, backend: LimiterBackend, prices: PriceTable, *, lease_seconds: float = LEASE_SECONDS) -> None:
        self.backend = backend
        self.prices = prices
        self._lease = lease_seconds
        # bytes/4 until start(); then None: tiktoken (27 MB) is loaded by the first request that counts tokens.
        self._count: Callable[[str], int] | None = bytes_estimate
        self.counter_name = "bytes/4"
        self._loading = threading.Lock()
        self._loaded: tuple[Callable[[str], int], str] | None = None
        self._held: dict[str, Ticket] = {}  # request id -> ticket holding a concurrency lease
        self._unsettled: list[_Unsettled] = []
        self._keeper: asyncio.Task[None] | None = None
        self._catching_up: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the backend, start the lease keeper; the token counter is loaded when first needed."""
        if self._loaded is None:
            self._count = None
        await self.backend.start()
        self._keeper = asyncio.create_task(self._keep(), name="vaultgate-leases")

    async def _counter(self) -> Callable[[str], int]:
        """The token counter, loaded off the event loop by the first request that needs it (at most once:
        requests arriving meanwhile wait for the same load)."""
        if self._count is not None:
            return self._count
        loaded, self.counter_name = await asyncio.to_thread(self._load_once)
        self._count = loaded
        return loaded

    def _load_once(self) -> tuple[Callable[[str], int], str]:
        with self._loading:
            if self._loaded is None:
                self._loaded = load_counter()
            return self._loaded

    async def stop(self) -> None:
        """Stop the keeper, try the pending settlements once more, close the backend."""
        for task in (self._keeper, self._catching_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.retry_settlements()
        await self.backend.stop()

    @property
    def unsettled(self) -> int:
        """Settlements waiting for the backend to come back."""
        return len(self._unsettled)

    async def _keep(self) -> None:
        """Every third of a lease: renew the leases of running requests, retry failed settlements."""
        while True:
            await asyncio.sleep(self._lease / 3)
            await self.renew_leases()
            await self.retry_settlements()

    async def renew_leases(self) -> None:
        """Extend the lease of every request of this process still running (the keeper calls this)."""
        if self._held:
            try:
                await self.backend.renew([t.demand for t in self._held.values()], self._lease)
            except LimitsUnavailable as exc:
                log.warning("renewing %d concurrency leases failed (%s)", len(self._held), exc)

    async def retry_settlements(self) -> None:
        """Write the settlements that failed, oldest first, until the backend refuses again."""
        if not self._unsettled:
            return
        waiting, self._unsettled = self._unsettled, []
        now = time.monotonic()
        for i, item in enumerate(waiting):
            try:
                await self.backend.settle(item.ticket.demand, item.ticket.admission, item.tokens, item.cost)
            except LimitsUnavailable:
                kept = [w for w in waiting[i:] if now - w.since < SETTLE_RETRY_SECONDS]
                self._unsettled[:0] = kept
                if len(kept) < len(waiting) - i:
                    log.error(
                        "%d settlements given up after %.0f s", len(waiting) - i - len(kept), SETTLE_RETRY_SECONDS
                    )
                return
        log.warning("%d delayed settlements written", len(waiting))

    async def admit(
        self,
        limits: ScopedLimits,
        ids: tuple[str, str, str | None],
        request_id: str,
        model: str | None,
        payload: dict[str, Any] | None,
    ) -> Ticket | None:
        """Charge a request to its key, member and team; None when nothing is limited.

        Raises LimitRefused (over a limit), ModelNotPriced, or LimitsUnavailable (fail closed).
        """
        if limits.empty:
            return None
        key_id, member_id, team_id = ids
        levels = [("k:" + key_id, limits.key), ("m:" + member_id, limits.member)]
        if team_id is not None:
            levels.append(("t:" + team_id, limits.team))
        scopes: list[ScopeDemand] = []
        wants_tokens = wants_budget = False
        for scope, level in levels:
            if not level.empty:
                scopes.append(ScopeDemand(scope, level))
                wants_tokens = wants_tokens or level.tpm is not None
                wants_budget = wants_budget or level.budget_usd is not None
        prompt = estimate_prompt_tokens(payload, await self._counter()) if (wants_tokens or wants_budget) else 0
        requested = requested_output_tokens(payload)
        price = self.prices.find(model)
        cost = 0
        if wants_budget and model is not None:
            if price is None:
                raise ModelNotPriced(model)
            out = requested if requested is not None else price.max_output_tokens
            cost = price.micro_usd(prompt, out)
        demand = Demand(
            request_id=request_id,
            scopes=tuple(scopes),
            tokens=prompt + (requested or 0),
            cost_micro_usd=cost,
            lease_seconds=self._lease,
        )
        admission = await self.backend.admit(demand)
        if self._unsettled and (self._catching_up is None or self._catching_up.done()):
            # The backend answers again: release the leases an outage kept now, not at the keeper's next turn.
            self._catching_up = asyncio.create_task(self.retry_settlements(), name="vaultgate-settlements")
        if not admission.admitted:
            raise LimitRefused(admission)
        ticket = Ticket(demand, admission, price, prompt)
        if any(sd.limits.concurrency is not None for sd in scopes):
            self._held[request_id] = ticket
        return ticket

    async def admit_exchange(self, key_id: str, request_id: str, per_minute: int) -> Admission:
        """Count one short-lived token exchange against the key's own exchange limit (no lease, no tokens).

        Raises LimitsUnavailable when the backend cannot decide (the exchange then fails closed).
        """
        demand = Demand(
            request_id=request_id,
            scopes=(ScopeDemand("x:" + key_id, Limits(rpm=per_minute)),),
            tokens=0,
            cost_micro_usd=0,
            lease_seconds=0.0,
        )
        return await self.backend.admit(demand)

    async def settle(
        self, ticket: Ticket, status: int, prompt_tokens: int | None, completion_tokens: int | None
    ) -> None:
        """Replace estimates with the real usage; if usage is unknown a success keeps its worst case."""
        demand = ticket.demand
        self._held.pop(demand.request_id, None)
        if prompt_tokens is not None or completion_tokens is not None:
            prompt = prompt_tokens if prompt_tokens is not None else ticket.prompt_estimate
            tokens = prompt + (completion_tokens or 0)
            cost = ticket.price.micro_usd(prompt, completion_tokens or 0) if ticket.price else 0
        elif 200 <= status < 300:
            tokens, cost = demand.tokens, demand.cost_micro_usd
        else:
            tokens, cost = demand.tokens, 0  # a refused or failed call is not billed
        try:
            await self.backend.settle(demand, ticket.admission, tokens, cost)
        except LimitsUnavailable as exc:
            # Retried by the keeper until the backend is back; meanwhile the lease is no longer renewed
            # (it ends within a lease time) and the reservation stays at its worst case (the safe side).
            log.warning("settling request %s failed (%s); retried in the background", demand.request_id, exc)
            if len(self._unsettled) >= MAX_UNSETTLED:
                self._unsettled.pop(0)
                log.error("too many delayed settlements: the oldest is given up")
            self._unsettled.append(_Unsettled(ticket, tokens, cost, time.monotonic()))


def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1.5s``, ``6m0s``."""
    ms = max(0, math.ceil(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:g}s"
    return f"{ms // 60_000}m{(ms % 60_000) / 1000:g}s"


def rate_limit_headers(admission: Admission) -> list[tuple[bytes, bytes]]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for the tightest scope."""
    headers: list[tuple[bytes, bytes]] = []
    if admission.limit_requests is not None:
        headers += (
            (b"x-ratelimit-limit-requests", str(admission.limit_requests).encode()),
            (b"x-ratelimit-remaining-requests", str(admission.remaining_requests or 0).encode()),
            (b"x-ratelimit-reset-requests", _duration(admission.reset_requests or 0.0).encode()),
        )
    if admission.limit_tokens is not None:
        headers += (
            (b"x-ratelimit-limit-tokens", str(admission.limit_tokens).encode()),
            (b"x-ratelimit-remaining-tokens", str(admission.remaining_tokens or 0).encode()),
            (b"x-ratelimit-reset-tokens", _duration(admission.reset_tokens or 0.0).encode()),
        )
    return headers


def retry_headers(seconds: float) -> list[tuple[bytes, bytes]]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``, which the SDKs honour."""
    ms = max(1, math.ceil(seconds * 1000))
    return [(b"retry-after", str(math.ceil(ms / 1000)).encode()), (b"retry-after-ms", str(ms).encode())]
