"""Batched usage writing that loses nothing to a store outage.

Requests append records in memory (never blocking); a background task writes them to the store
in batches every ``flush_interval`` seconds. What happens when a write fails depends on why
(``is_malformed`` tells, from the exception):

- **The store is unavailable** (down, restarting, unreachable, read-only, disk full): the batch
  is kept, whole. With a spool (a local file, :mod:`vaultgate.usage.spool`) it goes to disk at
  once, so memory stays bounded however long the outage lasts; without one it stays queued in
  memory up to ``max_pending`` events. Writes are retried with exponential backoff and jitter
  (up to ``max_backoff`` seconds) for as long as the outage lasts; once the store takes a
  batch again, the spool is replayed into it.
- **A record is malformed** (the store refuses its values): the batch is written one record at a
  time; records refused as malformed are set aside (the spool's ``usage-rejected.jsonl``),
  counted and logged; records that fail because the store went away meanwhile are kept, so an
  outage during this step loses nothing either.

:meth:`UsageRecorder.stop` (graceful shutdown, SIGTERM) writes what is queued, or spools it
when the store cannot take it; the next start replays it. Events are lost only to SIGKILL
(at most ``flush_interval`` seconds of them), or when neither the store nor the disk takes
them: then they are counted in ``dropped`` and logged at ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from vaultgate.usage.events import UsageRecord
from vaultgate.usage.spool import Spool

log = logging.getLogger("vaultgate.usage")

_T = TypeVar("_T")

Sink = Callable[[Sequence[UsageRecord]], None]
# True when an exception says the records themselves are at fault (not the store's availability).
MalformedCheck = Callable[[BaseException], bool]


class UsageStoreUnavailable(Exception):
    """The store did not take the events now; they are kept (queued or spooled) for a retry."""


@dataclass(frozen=True, slots=True)
class UsageStats:
    """How the recorder is doing (for logs, ``/readyz`` and metrics)."""

    queued: int
    spooled: int
    replayed: int
    rejected: int
    dropped: int
    outage_seconds: float | None


def _never_malformed(exc: BaseException) -> bool:
    return False


class UsageRecorder:
    """Collects usage records and writes them in batches through a blocking sink."""

    def __init__(
        self,
        sink: Sink,
        *,
        flush_interval: float = 0.5,
        max_pending: int = 100_000,
        spool: Spool | None = None,
        is_malformed: MalformedCheck = _never_malformed,
        max_backoff: float = 10.0,
        observers: Sequence[Callable[[UsageRecord], None]] = (),
    ) -> None:
        self._sink = sink
        self._observers = tuple(observers)
        self._interval = flush_interval
        self._max_pending = max_pending
        self._spool = spool
        self._is_malformed = is_malformed
        self._max_backoff = max_backoff
        self._pending: list[UsageRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._delay = flush_interval
        self._backoff = flush_interval
        self._outage_since: float | None = None
        self._spool_waiting = False
        self.spooled = 0
        self.replayed = 0
        self.rejected = 0
        self.dropped = 0
        # A thread of its own for the store and the spool: when store calls elsewhere in the process hang
        # (a partition) and take every thread of the shared pool, events still go to the spool.
        self._worker: ThreadPoolExecutor | None = None

    async def _in_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vaultgate-usage")
        return await asyncio.get_running_loop().run_in_executor(self._worker, functools.partial(function, *args))

    def record(self, event: UsageRecord) -> None:
        """Queue one event (non-blocking; called on the hot path)."""
        for observe in self._observers:  # metrics and the access log see every request
            observe(event)
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error(
                    "usage queue full (%d events) and nothing takes them: %d dropped", self._max_pending, self.dropped
                )
            return
        self._pending.append(event)

    def stats(self) -> UsageStats:
        """Counts since start, and how long the store has been unavailable (None: it is not)."""
        outage = None if self._outage_since is None else time.monotonic() - self._outage_since
        return UsageStats(len(self._pending), self.spooled, self.replayed, self.rejected, self.dropped, outage)

    async def start(self) -> None:
        """Start the periodic flush (which first replays anything a previous run spooled)."""
        if self._spool is not None:
            self._spool_waiting = await self._in_thread(self._spool.waiting)
        self._task = asyncio.create_task(self._run(), name="vaultgate-usage")

    async def stop(self) -> None:
        """Stop the periodic flush; write everything still queued, or spool it for the next start."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(UsageStoreUnavailable):  # flush kept what the store refused
            await self.flush()
        async with self._lock:
            if self._pending:
                batch, self._pending = self._pending, []
                await self._keep(batch, at_stop=True)
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None

    async def flush(self) -> None:
        """Write every queued event now, then replay the spool; UsageStoreUnavailable when the store
        did not take them (they are kept: spooled or queued)."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                try:
                    await self._in_thread(self._sink, batch)
                except Exception as exc:
                    if not self._is_malformed(exc):
                        await self._unavailable(batch, exc)
                    kept, cause = await self._in_thread(self._isolate, batch)
                    if kept:
                        await self._unavailable(kept, cause or exc)
            if self._spool_waiting and self._spool is not None:
                try:
                    self.replayed += await self._in_thread(self._spool.replay, self._write_replayed, self._bad_line)
                    self._spool_waiting = False
                except Exception as exc:
                    await self._unavailable([], exc)
            self._recovered()

    async def _unavailable(self, batch: list[UsageRecord], exc: BaseException) -> None:
        """The store did not take ``batch``: keep it, note the outage, and say so."""
        await self._keep(batch)
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning(
                "usage store unavailable (%s): events are kept (%s) and retried until it is back",
                type(exc).__name__,
                "spooled to disk" if self._spool is not None else "queued in memory",
            )
        raise UsageStoreUnavailable(type(exc).__name__) from None

    async def _keep(self, batch: list[UsageRecord], *, at_stop: bool = False) -> None:
        """Spool ``batch`` (memory stays bounded); without a spool, or when the disk refuses, queue it
        again in front (at stop: nothing is left to retry, so it is dropped and logged)."""
        if not batch:
            return
        if self._spool is not None:
            try:
                await self._in_thread(self._spool.append, batch)
            except OSError as exc:
                log.error("spooling %d usage events failed (%s)", len(batch), type(exc).__name__)
            else:
                self.spooled += len(batch)
                self._spool_waiting = True
                return
        if at_stop:
            self.dropped += len(batch)
            log.error("%d usage events could not be written or spooled at shutdown: lost", len(batch))
            return
        room = max(0, self._max_pending - len(self._pending))
        if room < len(batch):
            self.dropped += len(batch) - room
            log.error("usage queue full: %d events dropped", len(batch) - room)
        self._pending[:0] = batch[len(batch) - room :]

    def _isolate(self, batch: list[UsageRecord]) -> tuple[list[UsageRecord], BaseException | None]:
        """Write a refused batch one record at a time: set aside those refused as malformed; return the
        rest of the batch from the first one that failed for another reason (the store went away) and why."""
        malformed: list[UsageRecord] = []
        kept: list[UsageRecord] = []
        cause: BaseException | None = None
        for i, event in enumerate(batch):
            try:
                self._sink([event])
            except Exception as exc:
                if not self._is_malformed(exc):
                    kept, cause = batch[i:], exc
                    break
                malformed.append(event)
        if malformed:
            self.rejected += len(malformed)
            log.warning("the store refused %d usage events as malformed; set aside", len(malformed))
            if self._spool is not None:
                try:
                    self._spool.reject(malformed)
                except OSError as exc:
                    log.error("setting aside malformed usage events failed (%s)", type(exc).__name__)
        return kept, cause

    def _write_replayed(self, records: Sequence[UsageRecord]) -> None:
        """Replay one spooled chunk; a chunk with a malformed record goes in one at a time."""
        try:
            self._sink(records)
        except Exception as exc:
            if not self._is_malformed(exc) or self._isolate(list(records))[0]:
                raise

    def _bad_line(self, line: bytes) -> None:
        self.rejected += 1
        log.warning("a spooled usage line is not a record; set aside")
        if self._spool is not None:
            with contextlib.suppress(OSError):
                self._spool.reject_line(line)

    def _recovered(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "usage store reachable again after %.1f s: %d events spooled, %d replayed so far",
                time.monotonic() - self._outage_since,
                self.spooled,
                self.replayed,
            )
            self._outage_since = None
        self._delay = self._backoff = self._interval

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._delay)
            try:
                await self.flush()
            except UsageStoreUnavailable:
                # Back off while the outage lasts (doubling, with full jitter), back to the interval after it.
                self._backoff = min(self._max_backoff, self._backoff * 2)
                self._delay = random.uniform(self._interval, self._backoff)  # noqa: S311 - jitter, not security
            except Exception:  # never let the writer die; logged with its type
                log.exception("usage flush failed")
