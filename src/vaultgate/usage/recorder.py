"""Batched usage writing: requests append in memory; a background task flushes to the sink.

At most ``flush_interval`` seconds of events are in memory at any time (lost only on
SIGKILL); :meth:`UsageRecorder.stop` flushes everything, so a graceful shutdown loses none.
If the sink fails, events stay queued (up to ``max_pending``) and are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from vaultgate.usage.events import UsageRecord

log = logging.getLogger("vaultgate.usage")

Sink = Callable[[Sequence[UsageRecord]], None]


class UsageRecorder:
    """Collects usage records and writes them in batches through a blocking sink."""

    def __init__(self, sink: Sink, *, flush_interval: float = 0.5, max_pending: int = 200_000) -> None:
        self._sink = sink
        self._interval = flush_interval
        self._max_pending = max_pending
        self._pending: list[UsageRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.dropped = 0

    def record(self, event: UsageRecord) -> None:
        """Queue one event (non-blocking; called on the hot path)."""
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        self._pending.append(event)

    async def start(self) -> None:
        """Start the periodic flush."""
        self._task = asyncio.create_task(self._run(), name="vaultgate-usage")

    async def stop(self) -> None:
        """Stop the periodic flush and write everything still queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        """Write every queued event now; on failure they stay queued for the next attempt."""
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._sink, batch)
            except Exception:
                kept = await asyncio.to_thread(self._isolate, batch)
                # Never lose events on a transient store error: put them back in front.
                self._pending[:0] = kept
                log.exception("writing %d usage events failed; %d kept for retry", len(batch), len(kept))
                raise

    def _isolate(self, batch: list[UsageRecord]) -> list[UsageRecord]:
        """After a failed batch, write the events one by one: if some go in, the ones that still fail
        are malformed and dropped (counted in ``dropped``) so they cannot block every later batch;
        if none go in, the store is down and the whole batch is kept."""
        if len(batch) < 2:
            return batch
        failed = []
        for event in batch:
            try:
                self._sink([event])
            except Exception:
                failed.append(event)
        if len(failed) == len(batch):
            return batch
        self.dropped += len(failed)
        return []

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            with contextlib.suppress(Exception):  # flush logged it and kept the batch; retry next tick
                await self.flush()
