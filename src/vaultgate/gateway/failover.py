"""Stage 6, across deployments: retries with backoff, failover, circuit breaking, refused credentials.

The deployments come from routing, best first. Each is tried up to ``max_attempts`` times, then
the next one, as long as a further attempt can start within the retry budget. What may be sent
again (to the same deployment or another one):

- a request that never left: no connection was made (:class:`UpstreamUnreached`);
- an answer that says it was not processed: 408, 409, 429, 5xx (:mod:`vaultgate.upstream.retry`),
  its body read and discarded so the connection goes back to the pool;
- for GET and HEAD only, a connection that broke or timed out after sending.

Anything else is final: a POST whose connection closed after sending may have been processed,
so it is answered 502/504 and never sent anywhere again. A redirect is never followed (502
``upstream_redirect``). A 401 (or a 403 with an auth code) marks the provider's credential as
refused (alert once, skip it until it changes) and fails over at once, never retried in a loop.

When every attempt failed the client gets the last upstream answer (a 429 keeps its
``retry-after``), or the gateway's own error when no upstream answered; when no deployment
could even be tried because their breakers are open, 503 ``upstream_circuit_open`` with a
``retry-after``. Waits run inside the request's task, so a kill switch or a client hanging up
cancels them at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.relay import refuses_credential, upstream_auth_failed
from vaultgate.upstream.breaker import CircuitBreakers
from vaultgate.upstream.config import Deployment, ProviderConfig
from vaultgate.upstream.interface import (
    BufferedResponse,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreached,
)
from vaultgate.upstream.refused_credentials import RefusedCredentials
from vaultgate.upstream.retry import RetryPolicy, backoff, retry_after, retryable_status

log = logging.getLogger("vaultgate.gateway.failover")

# Methods sent again after a connection broke once the request was out (they change nothing upstream).
SAFE_METHODS = frozenset({"GET", "HEAD"})

Sender = Callable[[Deployment], Awaitable[UpstreamResponse]]
CredentialAlarm = Callable[[str], None]


@dataclass(slots=True)
class _Outcome:
    """One attempt's result: a response to relay, or an error; and whether it may be sent again."""

    response: UpstreamResponse | None = None
    error: GatewayError | None = None
    retry: bool = False  # to the same deployment
    failover: bool = False  # to the next deployment
    wait: float | None = None  # the upstream's retry-after


def upstream_redirect() -> GatewayError:
    """A 3xx from the upstream: never followed (the credential would go along), never relayed."""
    return GatewayError(
        502,
        "upstream_redirect",
        "The upstream answered with a redirect, which the gateway does not follow.",
        # A provider configuration problem: the SDK retrying would only meet the same redirect.
        headers=[(b"x-should-retry", b"false")],
    )


def circuit_open(wait: float) -> GatewayError:
    """Every deployment for the request is skipped by its open circuit breaker."""
    seconds = max(1, math.ceil(wait))
    return GatewayError(
        503,
        "upstream_circuit_open",
        "Every upstream deployment for this model is failing; the gateway is not sending it traffic for now.",
        headers=[(b"retry-after", str(seconds).encode())],
    )


class Failover:
    """The loop; one per process, holding the breakers and the refused credentials."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        refused: RefusedCredentials | None = None,
        *,
        on_credential_refused: CredentialAlarm = lambda provider: None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy if policy is not None else RetryPolicy()
        self.breakers = breakers if breakers is not None else CircuitBreakers(clock=clock)
        self.refused = refused if refused is not None else RefusedCredentials()
        self._on_credential_refused = on_credential_refused
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not a secret
        self._sleep = sleep
        self._clock = clock

    async def forward(self, ex: Exchange, deployments: list[Deployment], send: Sender) -> UpstreamResponse:
        """The answer to relay (``ex.provider`` set to the deployment that gave it), or a GatewayError."""
        policy = self.policy
        deadline = self._clock() + policy.budget
        last_answer: UpstreamResponse | None = None
        answered_by: ProviderConfig | None = None
        last_error: GatewayError | None = None
        open_waits: list[float] = []
        attempted = False
        for deployment in deployments:
            if self.refused.refused(deployment.provider):
                last_error = last_error or upstream_auth_failed(deployment.provider.name)
                continue
            tries = 0
            outcome: _Outcome | None = None  # the last one on this deployment
            while True:
                if attempted and self._clock() > deadline:
                    return self._give_up(ex, last_answer, answered_by, last_error, open_waits)
                if not self.breakers.acquire(deployment.key):
                    open_waits.append(self.breakers.retry_after(deployment.key))
                    break
                tries += 1
                attempted = True
                outcome = await self._attempt(ex, deployment, send)
                if not outcome.retry and not outcome.failover:
                    if outcome.error is not None:
                        raise outcome.error
                    assert outcome.response is not None
                    return outcome.response
                if outcome.response is not None:
                    last_answer, answered_by = outcome.response, deployment.provider
                if outcome.error is not None:
                    last_error = outcome.error
                wait = self._wait(outcome, tries, deadline)
                if wait is None:
                    break
                log.info(
                    "request %s: deployment %s failed (%s); attempt %d in %.2f s",
                    ex.request_id,
                    deployment.key,
                    _what(outcome),
                    tries + 1,
                    wait,
                )
                await self._sleep(wait)
            if outcome is not None:  # every outcome that is not final may go to the next deployment
                log.info("request %s: leaving deployment %s (%s)", ex.request_id, deployment.key, _what(outcome))
        if not attempted and open_waits:
            raise circuit_open(min(open_waits))
        return self._give_up(ex, last_answer, answered_by, last_error, open_waits)

    def _give_up(
        self,
        ex: Exchange,
        answer: UpstreamResponse | None,
        answered_by: ProviderConfig | None,
        error: GatewayError | None,
        open_waits: list[float],
    ) -> UpstreamResponse:
        """Every attempt failed: the last upstream answer if any (relayed as that provider's), else the
        gateway's last error."""
        if answer is not None:
            ex.provider = answered_by
            return answer
        if error is not None:
            raise error
        raise circuit_open(min(open_waits) if open_waits else 0.0)

    def _wait(self, outcome: _Outcome, tries: int, deadline: float) -> float | None:
        """How long to wait before trying the same deployment again; None to move on."""
        if not outcome.retry or tries >= self.policy.max_attempts:
            return None
        if outcome.wait is not None:
            if outcome.wait > self.policy.backoff_max:
                return None  # the upstream wants more than we would wait: another deployment may serve now
            wait = outcome.wait
        else:
            wait = backoff(self.policy, tries, self._rng)
        if self._clock() + wait > deadline:
            return None
        return wait

    async def _attempt(self, ex: Exchange, deployment: Deployment, send: Sender) -> _Outcome:
        """Send once to ``deployment`` and judge the result; the breaker learns of it."""
        key = deployment.key
        ex.provider = deployment.provider
        try:
            outcome = await self._judge(ex, deployment.provider, send, deployment)
        except BaseException:  # cancelled (kill switch, hang-up): no verdict on the deployment
            self.breakers.abandoned(key)
            raise
        if outcome.response is not None and not (outcome.retry or outcome.failover):
            self.breakers.succeeded(key)  # it answered (2xx, or a 4xx about the request itself)
        elif outcome.error is not None and outcome.error.code in ("upstream_redirect", "upstream_auth_failed"):
            self.breakers.abandoned(key)  # a configuration problem, not an unhealthy upstream
        else:
            self.breakers.failed(key)
        return outcome

    async def _judge(self, ex: Exchange, provider: ProviderConfig, send: Sender, deployment: Deployment) -> _Outcome:
        try:
            response = await send(deployment)
        except UpstreamError as exc:
            return self._failure(ex, exc)
        status = response.status
        if 300 <= status < 400:
            await response.close()
            log.warning("provider %r answered with a redirect (status %d); not followed", provider.name, status)
            return _Outcome(error=upstream_redirect())
        if status in (401, 403):
            try:
                body = await response.read()
            except UpstreamError as exc:
                return self._failure(ex, exc)
            if refuses_credential(status, body):
                if self.refused.mark(provider):
                    self._on_credential_refused(provider.name)
                return _Outcome(error=upstream_auth_failed(provider.name), failover=True)
            return _Outcome(response=BufferedResponse(status, response.headers, body))
        if not retryable_status(status, response.headers):
            return _Outcome(response=response)
        try:  # read and kept (the last one is relayed), so the connection goes back to the pool
            body = await response.read()
        except UpstreamError:
            body = b""
        return _Outcome(
            response=BufferedResponse(status, response.headers, body),
            retry=True,
            failover=True,
            wait=retry_after(response.headers),
        )

    @staticmethod
    def _failure(ex: Exchange, exc: UpstreamError) -> _Outcome:
        if isinstance(exc, UpstreamUnreached):
            return _Outcome(error=GatewayError(exc.status, exc.code, str(exc)), retry=not exc.permanent, failover=True)
        # The request may have reached the upstream: only a GET or HEAD may be sent again, by the
        # gateway or by the client (the SDKs honour x-should-retry; they would resend a POST on a 502).
        again = ex.method in SAFE_METHODS and isinstance(exc, (UpstreamUnavailable, UpstreamTimeout))
        headers = None if ex.method in SAFE_METHODS else [(b"x-should-retry", b"false")]
        return _Outcome(
            error=GatewayError(exc.status, exc.code, str(exc), headers=headers), retry=again, failover=again
        )


def _what(outcome: _Outcome) -> str:
    if outcome.response is not None:
        return f"status {outcome.response.status}"
    return outcome.error.code if outcome.error is not None else "?"
