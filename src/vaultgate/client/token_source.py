"""A ``vgt_`` token that is always fresh: fetched once, refreshed before it expires, shared by threads and tasks.

A token is refreshed when less than :func:`refresh_margin` of its lifetime remains (max(10 s, a
fifth of it), but never more than half of it, so a 2-second token is not fetched on every call).
One refresh at a time (a lock), however many threads or coroutines ask; coroutines wait in a
worker thread, never blocking their event loop. When a refresh fails for a while (the gateway
unreachable, the exchange limit with its ``retry-after``), the current token is served as long
as it lives. When the key itself is refused (revoked, expired: 401), the source is dead: every
call raises that error, and no token is served any more (it died with its key anyway).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vaultgate.client.errors import ClientError, ExchangeLimited, KeyRefused
from vaultgate.client.gateway_api import ShortLivedToken

Fetch = Callable[[], ShortLivedToken]
# After a failed refresh with a token still alive, wait this long before the next try (or retry-after).
RETRY_SECONDS = 2.0


def refresh_margin(lifetime: float) -> float:
    """How long before a token's end it is replaced: max(10 s, 1/5 of its lifetime), at most half of it."""
    return min(max(10.0, lifetime / 5), lifetime / 2)


@dataclass(frozen=True, slots=True)
class _Held:
    token: ShortLivedToken
    refresh_at: float  # on the source's clock
    ends_at: float


class TokenSource:
    """The current short-lived token from ``fetch`` (an exchange, or the exec credential endpoint).

    ``clock`` (seconds, ``time.monotonic`` by default) is injectable: tests move time instead of sleeping.
    """

    def __init__(self, fetch: Fetch, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._held: _Held | None = None
        self._dead: KeyRefused | None = None
        self._retry_at = 0.0
        self._limited: ExchangeLimited | None = None

    @property
    def expires_at(self) -> int | None:
        """When the current token ends (unix time, as the gateway said), None before the first."""
        held = self._held
        return held.token.expires_at if held is not None else None

    def current(self) -> ShortLivedToken:
        """The token to use now (fetching or refreshing it first when due); a ClientError when there is none."""
        held, now = self._held, self._clock()
        if held is not None and now < held.refresh_at and self._dead is None:
            return held.token  # the common case: no lock
        with self._lock:
            return self._refreshed()

    def token(self) -> str:
        """The ``vgt_`` token to send now."""
        return self.current().token

    async def atoken(self) -> str:
        """:meth:`token` for coroutines: a refresh waits in a worker thread, never on the event loop."""
        held = self._held
        if held is not None and self._clock() < held.refresh_at and self._dead is None:
            return held.token.token
        return await asyncio.to_thread(self.token)

    def refused(self, token: str) -> None:
        """The gateway refused ``token`` (401): fetch a new one next time instead of serving it again."""
        with self._lock:
            if self._held is not None and self._held.token.token == token:
                self._held = None

    def _refreshed(self) -> ShortLivedToken:
        if self._dead is not None:
            raise self._dead
        held, now = self._held, self._clock()
        if held is not None and now < held.refresh_at:
            return held.token  # another thread refreshed it while this one waited
        alive = held is not None and now < held.ends_at
        if now < self._retry_at:
            if alive:
                assert held is not None
                return held.token
            if self._limited is not None:  # honour the gateway's retry-after: do not ask again before it
                raise self._limited
        try:
            fresh = self._fetch()
        except KeyRefused as exc:
            self._dead, self._held = exc, None
            raise
        except ClientError as exc:
            self._limited = exc if isinstance(exc, ExchangeLimited) else None
            self._retry_at = self._clock() + (exc.retry_after if isinstance(exc, ExchangeLimited) else RETRY_SECONDS)
            if alive:
                assert held is not None
                return held.token
            raise
        received = self._clock()
        self._held = _Held(fresh, received + fresh.lifetime - refresh_margin(fresh.lifetime), received + fresh.lifetime)
        self._retry_at, self._limited = 0.0, None
        return fresh
