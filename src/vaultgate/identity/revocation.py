"""Time to effective revocation, measured by the replica that took the SCIM call and written to the audit trail.

:class:`RevocationTimer` wraps the SCIM app. For a write (PATCH, PUT, DELETE) answered 2xx it notes when
the call arrived (monotonic), then, off the request (a task of its own), finds the deprovisionings the
call made (``identity.deprovision`` records whose ``requested_at`` falls within the call), reads the
store's revision (the deprovisioning's commit is at or before it), and waits, up to ``timeout`` seconds,
for this replica's snapshot refresher to swap in a snapshot of that revision or later, one that no longer
holds the member's keys. The swap's moment minus the arrival is ``elapsed_ms`` of the
``identity.revocation_effective`` record (services/revocation_timing.py). Other replicas drop the keys on
their own refresh (PostgreSQL NOTIFY, or the poll); each measures only what it served.

The refresher calls :meth:`RevocationTimer.swapped` on its event loop (server.py registers it); the data
plane itself knows nothing of this (it never imports the store or the services).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaultgate.services import revocation_timing
from vaultgate.services.context import ControlPlane

log = logging.getLogger("vaultgate.identity.revocation")

_WRITES = frozenset({"PATCH", "PUT", "DELETE"})


class Revisioned(Protocol):
    """What the timer reads of a snapshot: its revision."""

    @property
    def revision(self) -> int: ...


def replica_name() -> str:
    """How records name this process: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RevocationTimer:
    """The SCIM app, measured: each deprovisioning it makes gets an ``identity.revocation_effective`` record."""

    def __init__(
        self,
        app: ASGIApp,
        cp: ControlPlane,
        holds_member: Callable[[str], bool],
        *,
        timeout: float = 5.0,
        replica: str | None = None,
    ) -> None:
        """``holds_member(member_id)``: whether this replica's current snapshot still serves a key of the member."""
        self.app = app
        self.cp = cp
        self.holds_member = holds_member
        self.timeout = timeout
        self.replica = replica or replica_name()
        self._swaps: deque[tuple[int, float]] = deque(maxlen=256)  # (revision, monotonic time of the swap)
        self._swapped: asyncio.Event | None = None
        self._claimed: deque[int] = deque(maxlen=1024)  # deprovision records already measured here
        self._tasks: set[asyncio.Task[None]] = set()

    def swapped(self, snapshot: Revisioned) -> None:
        """The refresher's listener: a new snapshot is current (called on the event loop)."""
        self._swaps.append((snapshot.revision, time.monotonic()))
        if self._swapped is not None:
            self._swapped.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _WRITES:
            await self.app(scope, receive, send)
            return
        arrived, arrived_at = time.monotonic(), self.cp.clock()
        status = 0

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, noting)
        if 200 <= status < 300:
            task = asyncio.create_task(self._follow(arrived, arrived_at, self.cp.clock()), name="vaultgate-revocation")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _follow(self, arrived: float, arrived_at: datetime, answered_at: datetime) -> None:
        try:
            found = await asyncio.to_thread(revocation_timing.deprovisions_between, self.cp, arrived_at, answered_at)
            fresh = [(seq, member) for seq, member in found if seq not in self._claimed]
            if not fresh:
                return
            self._claimed.extend(seq for seq, _ in fresh)
            target = await asyncio.to_thread(self.cp.store.revision)
            for _, member in fresh:
                effective = await self._effective(target, member, arrived)
                timed_out = effective is None
                elapsed = ((effective if effective is not None else time.monotonic()) - arrived) * 1000
                await asyncio.to_thread(
                    revocation_timing.record_effective,
                    self.cp,
                    member,
                    elapsed_ms=elapsed,
                    replica=self.replica,
                    revision=target,
                    timed_out=timed_out,
                )
                if timed_out:
                    log.warning("a deprovisioned member's keys were still served %.0f ms after the SCIM call", elapsed)
        except Exception:  # a measurement that fails must not disturb anything else; the trail lacks its record
            log.exception("the time to effective revocation could not be recorded")

    async def _effective(self, target: int, member: str, arrived: float) -> float | None:
        """When this replica swapped in revision ``target`` or later without the member's keys; None on timeout."""
        if self._swapped is None:
            self._swapped = asyncio.Event()
        deadline = time.monotonic() + self.timeout
        while True:
            self._swapped.clear()
            at = next((t for revision, t in self._swaps if revision >= target and t >= arrived), None)
            if at is not None and not self.holds_member(member):
                return at
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                await asyncio.wait_for(self._swapped.wait(), timeout=left)
            except TimeoutError:
                continue
