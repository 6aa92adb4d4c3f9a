"""Deadlines for reading request bodies: 408 when a read stalls too long or the whole body takes too long.

A client that trickles its body (or stops sending) would otherwise hold the request, its
connection and its key's concurrency slot for as long as it likes. One timer per data plane
checks every body being read (a timer per request cost 2-5% of a request's CPU; registering in
a set costs nothing measurable), so a deadline is noticed up to one tick late (a tenth of the
shorter timeout, at most a second).
"""

from __future__ import annotations

import asyncio
from typing import Any

from vaultgate.gateway.asgi import Message, Receive
from vaultgate.gateway.http_limits import request_timeout


class BodyDeadlines:
    """The body-read deadlines of one data plane: ``idle`` seconds per read, ``total`` for the whole body."""

    __slots__ = ("_handle", "_loop", "_reading", "_tick", "idle", "total")

    def __init__(self, idle: float, total: float) -> None:
        self.idle = idle
        self.total = total
        self._tick = min(1.0, max(0.02, min(idle, total) / 10))
        self._reading: set[TimedReceive] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def receive(self, receive: Receive) -> TimedReceive:
        """``receive`` under these deadlines, for one body (call its ``stop`` when the body is read)."""
        return TimedReceive(self, receive)

    def watch(self, reader: TimedReceive, loop: asyncio.AbstractEventLoop) -> None:
        """Check ``reader`` on every tick until it is unwatched (the timer starts with the first reader)."""
        self._reading.add(reader)
        if self._handle is None or self._loop is not loop:
            self._loop = loop
            self._handle = loop.call_later(self._tick, self._sweep)

    def unwatch(self, reader: TimedReceive) -> None:
        """Stop checking ``reader``."""
        self._reading.discard(reader)

    def _sweep(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for reader in [r for r in self._reading if r.overdue(now, self.idle)]:
            self._reading.discard(reader)
            reader.expire()
        # The timer runs only while bodies are being read.
        self._handle = loop.call_later(self._tick, self._sweep) if self._reading else None


class TimedReceive:
    """One body's ``receive``: raises the 408 when a deadline passed while it waited."""

    __slots__ = ("_deadline", "_deadlines", "_expired", "_receive", "_task", "_waiting_since")

    def __init__(self, deadlines: BodyDeadlines, receive: Receive) -> None:
        self._deadlines = deadlines
        self._receive = receive
        self._task: asyncio.Task[Any] | None = None
        self._deadline = 0.0
        self._waiting_since: float | None = None  # set only while a read waits
        self._expired = False

    async def __call__(self) -> Message:
        """The next ASGI message, or :func:`request_timeout` when a deadline passes while waiting for it."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._task is None:  # the first read starts the clock
            self._task = asyncio.current_task()
            self._deadline = now + self._deadlines.total
            self._deadlines.watch(self, loop)
        self._waiting_since = now
        try:
            return await self._receive()
        except asyncio.CancelledError:
            if not self._expired or self._task is None:
                raise
            self._task.uncancel()  # our own cancellation, turned into the 408
            raise request_timeout("body") from None
        finally:
            self._waiting_since = None

    def overdue(self, now: float, idle: float) -> bool:
        """Whether a read is waiting past the idle timeout or the overall deadline."""
        since = self._waiting_since
        return since is not None and (now >= since + idle or now >= self._deadline)

    def expire(self) -> None:
        """End the waiting read with the 408 (by cancelling it: the read is where the task waits)."""
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    def stop(self) -> None:
        """The body is read (or refused): its deadlines are no longer watched."""
        self._deadlines.unwatch(self)
