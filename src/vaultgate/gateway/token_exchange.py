"""``POST /v1/vaultgate/tokens``: a member key buys a short-lived ``vgt_`` token with a subset of its rights.

The exchange is refused like any use of the key (lifetime, kill switches, IP allowlist), is
counted against the key's own exchange limit (429 past it, shared by replicas with Redis), and
is answered by the control-plane hook that stores the token off the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from vaultgate.gateway.asgi import Send, send_response
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.limits.admission import Limiter, retry_headers
from vaultgate.limits.interface import LimitsUnavailable
from vaultgate.policy.decide import use_denial
from vaultgate.policy.grants import KeyGrant

# Stores a short-lived token for (grant, keyed hash of the presented secret, request body) and
# returns the JSON answer; raises GatewayError on bad input.
TokenIssuer = Callable[[KeyGrant, str, dict[str, Any]], Awaitable[bytes]]


class TokenExchange:
    """The token endpoint of one data plane."""

    def __init__(
        self, issue: TokenIssuer | None, limiter: Limiter | None, per_minute: int, clock: Callable[[], datetime]
    ) -> None:
        self._issue = issue
        self._limiter = limiter
        self._per_minute = per_minute
        self._clock = clock

    async def __call__(self, ex: Exchange, snapshot: Snapshot, send: Send) -> None:
        """Refuse, or issue a token and answer with it (shown once)."""
        grant = ex.grant
        assert grant is not None and ex.payload is not None
        denial = use_denial(grant, ex.client_ip, self._clock(), lockdown=snapshot.lockdown)
        if denial is not None:
            raise GatewayError(denial.status, denial.code, denial.message)
        if self._issue is None:
            raise GatewayError(404, "unknown_url", f"Unknown request URL: POST {ex.path}.")
        await self._admit(grant, ex.request_id)
        body = await self._issue(grant, ex.credential_hash, ex.payload)
        ex.status = 200
        await send_response(send, 200, body, [(b"x-request-id", ex.request_id.encode())])

    async def _admit(self, grant: KeyGrant, request_id: str) -> None:
        """429 past the key's exchange limit; 503 when the limits backend cannot say (fail closed)."""
        if self._limiter is None or self._per_minute <= 0:
            return
        try:
            admission = await self._limiter.admit_exchange(grant.key_id, request_id, self._per_minute)
        except LimitsUnavailable:
            raise GatewayError(
                503,
                "limits_unavailable",
                "vaultgate cannot check this key's token exchange limit right now (the limits backend is "
                "unreachable), so no token was issued. Retry shortly.",
            ) from None
        if not admission.admitted:
            wait = max(1, round(admission.retry_after))
            raise GatewayError(
                429,
                "rate_limit_exceeded",
                f"Too many short-lived token exchanges for this key: at most {self._per_minute} per minute. "
                f"Please try again in {wait}s, or keep using the token you have until it expires.",
                headers=retry_headers(admission.retry_after),
            )
