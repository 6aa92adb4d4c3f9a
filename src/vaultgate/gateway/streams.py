"""Requests in flight, so that a kill switch also ends what is already running (issue 9, class 5).

Every request that was sent upstream is registered here with the task serving it, from the
moment it is forwarded until its answer is complete. Whenever the refresher swaps in a new
snapshot, and every second (for expiry, which needs no change in the store), each one is
checked again: its credential must still be in the snapshot (gone: revoked, rotated past its
grace, or its parent key gone) and must pass the kill switches and its lifetime
(:func:`vaultgate.policy.decide.holder_denial`). One that fails is cancelled:

- still waiting for the upstream (or a whole answer not started): the client gets the same
  401/403 in JSON that a new request would get;
- a stream already under way: it ends with an SSE error event (code ``stream_revoked``),
  which the official SDKs raise as ``APIError``.

Either way the upstream request is abandoned, which closes its connection (an unfinished
response is never returned to the pool), and the pipeline's ``finally`` still settles the
limits (the concurrency lease is released) and records usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from vaultgate.gateway.asgi import Message, Receive, Send
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.policy.decide import Denial

log = logging.getLogger("vaultgate.gateway.streams")

STREAM_REVOKED = "stream_revoked"
# Not an answer (nobody is left to read one): the status and code a request is recorded with when its
# client hung up while it was in flight (499, as nginx records it).
CLIENT_GONE = Denial(499, "client_disconnected", "The client closed the connection.")
# How requests still running when a graceful shutdown's drain time is up are ended: a stream with an
# SSE error event of this code, a request still waiting for its answer with this 503 (retry elsewhere).
SHUTTING_DOWN = Denial(
    503, "server_shutting_down", "vaultgate is shutting down and ended this request; retry it (another replica)."
)
# Requests that finish sooner are not watched for a hang-up at all (a task per request costs more
# than the rare hang-up of a fast request would).
HANG_UP_WATCH_AFTER = 0.05
# None when the request may go on, else why it must end (decided against the given snapshot).
StillAllowed = Callable[[Exchange, Snapshot], Denial | None]


async def _no_send(message: Message) -> None:
    """The ``send`` of a tracked request, which answers through its own channel."""


def stream_end_code(denial: Denial) -> str:
    """The code a stream ended by ``denial`` ends with: ``stream_revoked`` for a kill switch."""
    return denial.code if denial is SHUTTING_DOWN else STREAM_REVOKED


def revoked_event(denial: Denial) -> bytes:
    """The SSE event that ends a stream cut by a kill switch or a shutdown (the SDKs raise ``APIError`` on it)."""
    message = "vaultgate ended this stream: " + denial.message
    error = GatewayError(denial.status, stream_end_code(denial), message)
    return b"data: " + error.body() + b"\n\n"


@dataclass(slots=True)
class RunningRequest:
    """One request in flight: what it is, the task serving it, and whether its answer has started."""

    exchange: Exchange
    task: asyncio.Task[Any]
    _send: Send = field(repr=False)
    started: bool = False
    completed: bool = False
    ended_by: Denial | None = None

    async def send(self, message: Message) -> None:
        """The ASGI ``send`` the request answers through; notes when the answer starts and ends."""
        if message["type"] == "http.response.start":
            self.started = True
        elif not message.get("more_body", False):
            self.completed = True
        await self._send(message)


class RunningRequests:
    """The requests in flight on this process, checked again on every snapshot and every second."""

    def __init__(self, still_allowed: StillAllowed, snapshot: Callable[[], Snapshot], interval: float = 1.0) -> None:
        self._still_allowed = still_allowed
        self._snapshot = snapshot
        self._interval = interval
        self._running: dict[str, RunningRequest] = {}
        self._timer: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._running)

    def watch(self, ex: Exchange, send: Send, receive: Receive | None = None) -> Watch:
        """``async with running.watch(ex, send, receive) as request:`` around forwarding and relaying.

        With ``receive`` (the body already read), a client that hangs up ends the request too: the
        upstream request is abandoned and its concurrency slot freed at once (watched from
        :data:`HANG_UP_WATCH_AFTER` on).
        """
        return Watch(self, ex, send, receive)

    @contextlib.asynccontextmanager
    async def track(self, ex: Exchange) -> AsyncIterator[RunningRequest]:
        """``async with running.track(ex) as request:`` around a request that answers on its own terms
        (a realtime session). A kill switch cancels its task; that cancellation ends here, and
        ``request.ended_by`` tells the caller why (it then tells its client)."""
        task = asyncio.current_task()
        assert task is not None
        request = RunningRequest(ex, task, _no_send)
        self._add(request)
        try:
            yield request
        except asyncio.CancelledError:
            if request.ended_by is None or task.uncancel() > 0:
                raise  # cancelled for another reason as well (shutdown): let that win
        finally:
            self._remove(request)

    def end_all(self, denial: Denial) -> int:
        """End every request still running (a graceful shutdown past its drain time); how many."""
        running = [r for r in self._running.values() if r.ended_by is None]
        for request in running:
            self._end(request, denial)
        return len(running)

    def recheck(self, snapshot: Snapshot) -> None:
        """End every request whose credential ``snapshot`` no longer allows."""
        for request in list(self._running.values()):
            if request.ended_by is None:
                denial = self._still_allowed(request.exchange, snapshot)
                if denial is not None:
                    self._end(request, denial)

    def _end(self, request: RunningRequest, denial: Denial) -> None:
        if request.started and not request.exchange.stream:
            return  # a whole answer already on its way out: it is complete, let it finish
        request.ended_by = denial
        request.task.cancel()
        log.info("request %s ended in flight: %s", request.exchange.request_id, denial.code)

    def _add(self, request: RunningRequest) -> None:
        self._running[request.exchange.request_id] = request
        if self._timer is None:  # one timer while anything runs, none when idle
            self._timer = asyncio.get_running_loop().create_task(self._tick(), name="vaultgate-running-requests")

    def _remove(self, request: RunningRequest) -> None:
        self._running.pop(request.exchange.request_id, None)

    async def _tick(self) -> None:
        """Expiry needs no change in the store: look again every ``interval`` while requests run."""
        try:
            while self._running:
                await asyncio.sleep(self._interval)
                self.recheck(self._snapshot())
        finally:
            self._timer = None


class Watch:
    """Registers a request for its forward and relay; turns a kill-switch cancellation into its answer."""

    __slots__ = ("_ex", "_listener", "_receive", "_registry", "_request", "_send", "_timer")

    def __init__(self, registry: RunningRequests, ex: Exchange, send: Send, receive: Receive | None) -> None:
        self._registry = registry
        self._ex = ex
        self._send = send
        self._receive = receive
        self._request: RunningRequest | None = None
        self._listener: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def __aenter__(self) -> RunningRequest:
        task = asyncio.current_task()
        assert task is not None
        self._request = RunningRequest(self._ex, task, self._send)
        self._registry._add(self._request)
        if self._receive is not None:
            self._timer = asyncio.get_running_loop().call_later(HANG_UP_WATCH_AFTER, self._watch_hang_up)
        return self._request

    def _watch_hang_up(self) -> None:
        assert self._receive is not None and self._request is not None
        self._listener = asyncio.get_running_loop().create_task(self._hang_up(self._receive, self._request))

    @staticmethod
    async def _hang_up(receive: Receive, request: RunningRequest) -> None:
        """Wait for the client to disconnect (the server says so through ``receive`` once the body is
        read); then end the request, unless its answer is already complete."""
        for _ in range(2):  # a request without a body may still have its one empty body message pending
            message = await receive()
            if message["type"] == "http.disconnect":
                if not request.completed and request.ended_by is None:
                    request.ended_by = CLIENT_GONE
                    request.task.cancel()
                    log.info("request %s ended in flight: the client disconnected", request.exchange.request_id)
                return
            if message.get("more_body", False):
                return  # not the end of the body: this server does not say when the client leaves

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        request = self._request
        assert request is not None
        self._registry._remove(request)  # before any await: a cancel can no longer be aimed at us
        if self._timer is not None:
            self._timer.cancel()
        if self._listener is not None:
            self._listener.cancel()
        denial = request.ended_by
        if denial is None:
            return False
        if exc is None:  # the cancellation was swallowed on the way; nothing left to answer
            request.task.uncancel()
            return False
        if request.task.uncancel() > 0:
            return False  # cancelled for another reason as well (shutdown): let that win
        if denial is CLIENT_GONE:  # nobody to answer: record it, and let the pipeline settle the limits
            self._ex.status, self._ex.error_code = denial.status, denial.code
            return True
        if not request.started:
            raise GatewayError(denial.status, denial.code, denial.message, param=denial.param) from None
        ex = self._ex
        ex.status, ex.error_code = denial.status, stream_end_code(denial)
        await self._send({"type": "http.response.body", "body": revoked_event(denial), "more_body": False})
        return True
