"""The hot path's view of the control plane, and the refresher that keeps it within a second.

Nothing on the hot path reads the database: requests look keys and providers up in the
current :class:`Snapshot`. The refresher swaps in a new one when the store's revision
changes (PostgreSQL NOTIFY wakes it at once; polling every ``interval`` is the fallback).

Short-lived tokens have a counter of their own: a new token makes every replica reload
only the tokens (resolved against the keys it already holds), never the whole snapshot; the
replica that issued it adds it at once (:meth:`Refresher.add_token`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from vaultgate.gateway.route_table import RouteTable
from vaultgate.policy.grants import KeyGrant
from vaultgate.upstream.config import ProviderConfig

log = logging.getLogger("vaultgate.gateway.snapshot")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Keys by keyed hash, providers by name, the routing table, and the revision they reflect."""

    grants: Mapping[str, KeyGrant] = field(default_factory=lambda: MappingProxyType({}))
    providers: Mapping[str, ProviderConfig] = field(default_factory=lambda: MappingProxyType({}))
    default_provider: str | None = None
    revision: int = -1
    lockdown: bool = False
    # Keyed hashes of canary keys → key id: any use is refused like an unknown key, and raises an alert.
    canaries: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Short-lived tokens by keyed hash, and the token counter they reflect.
    tokens: Mapping[str, KeyGrant] = field(default_factory=lambda: MappingProxyType({}))
    token_revision: int = -1
    # Model names to deployments across providers (gateway/routing.py reads it; docs/PROVIDERS.md).
    routes: RouteTable = field(default_factory=RouteTable)

    def grant(self, digest: str) -> KeyGrant | None:
        """The grant for a credential's keyed hash: a member-key secret or a short-lived token."""
        found = self.grants.get(digest)
        return found if found is not None else self.tokens.get(digest)


# Reloads only the short-lived tokens against a snapshot's keys: (tokens by hash, token revision).
TokenLoader = Callable[[Snapshot], tuple[Mapping[str, KeyGrant], int]]


class Refresher:
    """Holds the current snapshot and reloads it when the store says something changed."""

    def __init__(
        self,
        load: Callable[[], Snapshot],
        revision: Callable[[], tuple[int, int]],
        *,
        interval: float = 0.5,
        listen: Callable[[threading.Event, Callable[[], None]], None] | None = None,
        load_tokens: TokenLoader | None = None,
    ) -> None:
        self._load = load
        self._load_tokens = load_tokens
        # Tokens issued here and not yet seen in a loaded snapshot: digest → (grant, parent secret's digest).
        self._issued: dict[str, tuple[KeyGrant, str]] = {}
        self._revision = revision
        self._interval = interval
        self._listen = listen
        self._current = Snapshot()
        self._wake = asyncio.Event()
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: threading.Thread | None = None
        # Called with each new snapshot (the data plane ends requests in flight it no longer allows).
        self.on_swap: list[Callable[[Snapshot], None]] = []
        # When the store last confirmed the snapshot is current (monotonic seconds), and since when it cannot.
        self._confirmed = time.monotonic()
        self._failing_since: float | None = None
        # A thread of its own: store calls stuck behind a partition elsewhere in the process (object
        # lookups, the usage writer) must not delay the check that tells this replica it is current again.
        self._worker: ThreadPoolExecutor | None = None

    async def _in_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vaultgate-refresh")
        return await asyncio.get_running_loop().run_in_executor(self._worker, functools.partial(function, *args))

    @property
    def current(self) -> Snapshot:
        """The snapshot requests use now."""
        return self._current

    def staleness(self) -> float:
        """Seconds since the store last confirmed that this replica's snapshot is current.

        Every successful revision check confirms it (every ``interval``); a replica cut off from
        the database sees this grow, and the data plane refuses keys past the configured maximum.
        """
        return time.monotonic() - self._confirmed

    async def start(self) -> None:
        """Load the first snapshot (failing loudly if it cannot), then keep it fresh."""
        self._swap(await self._in_thread(self._load))
        self._confirmed = time.monotonic()
        loop = asyncio.get_running_loop()
        if self._listen is not None:
            wake = lambda: loop.call_soon_threadsafe(self._wake.set)  # noqa: E731
            self._listener = threading.Thread(
                target=self._listen, args=(self._stop, wake), name="vaultgate-listen", daemon=True
            )
            self._listener.start()
        self._task = asyncio.create_task(self._run(), name="vaultgate-refresh")

    async def stop(self) -> None:
        """Stop refreshing."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._worker is not None:
            self._worker.shutdown(wait=False, cancel_futures=True)
            self._worker = None

    async def refresh(self) -> None:
        """Reload now if a revision moved: everything, or only the short-lived tokens."""
        checked = time.monotonic()
        revision, token_revision = await self._in_thread(self._revision)
        if revision != self._current.revision:
            self._swap(await self._in_thread(self._load))
            log.info("snapshot refreshed to revision %d", self._current.revision)
        elif self._load_tokens is not None and token_revision != self._current.token_revision:
            base = self._current
            tokens, loaded = await self._in_thread(self._load_tokens, base)
            if self._current is base:  # else a full reload in between already holds newer tokens
                self._swap(replace(base, tokens=MappingProxyType(dict(tokens)), token_revision=loaded))
        # Current as of when the check started (what changed after it is the next check's to see).
        self._confirmed = max(self._confirmed, checked)

    def add_token(self, digest: str, grant: KeyGrant, parent_digest: str) -> None:
        """Serve a token this replica just issued at once, until a loaded snapshot holds it."""
        self._issued[digest] = (grant, parent_digest)
        self._swap(self._current, notify=False)  # only a token more: nothing running needs a re-check

    def _swap(self, new: Snapshot, *, notify: bool = True) -> None:
        """Make ``new`` current, with the tokens issued here that it does not hold yet (while their
        parent secret is still live in it: a revoked or rotated-out parent takes them along)."""
        missing: dict[str, KeyGrant] = {}
        now = datetime.now(UTC)
        for digest, (grant, parent) in list(self._issued.items()):
            ended = grant.expires_at is not None and grant.expires_at <= now
            if ended or digest in new.tokens or parent not in new.grants:
                del self._issued[digest]
            else:
                missing[digest] = grant
        if missing:
            new = replace(new, tokens=MappingProxyType({**new.tokens, **missing}))
        self._current = new
        if notify:
            self._swapped()

    def _swapped(self) -> None:
        for listener in self.on_swap:
            try:
                listener(self._current)
            except Exception:  # one failing listener must not stop the others or the refresher; logged
                log.exception("a snapshot listener failed")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            try:
                await self.refresh()
            except Exception as exc:  # keep serving the last good snapshot; the next tick retries
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.warning(
                        "cannot reach the store to refresh keys (%s): serving the snapshot of %.1f s ago",
                        type(exc).__name__,
                        self.staleness(),
                        exc_info=True,
                    )
                continue
            if self._failing_since is not None:
                outage = time.monotonic() - self._failing_since
                log.warning("store reachable again after %.1f s; snapshot current", outage)
                self._failing_since = None
