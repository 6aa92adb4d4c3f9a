"""The few control-plane writes the data plane triggers, run off the event loop.

- a canary key was used: audit ``canary.used`` (source IP, user agent), awaited before the 401 is
  sent, and send the webhook (also when the audit write failed: then an ERROR and a lost event);
- every ``security_events_flush_seconds``, and at a graceful stop: the authentication failures and
  policy refusals the data plane counted (gateway/security_events.py), one audit record per pair;
- an upstream refused a provider's credential: audit ``provider.credential_refused`` and send the webhook
  (once per credential: the failover loop marks it and skips it until it changes);
- a member key is exchanged for a short-lived token: store it and serve it here at once
  (other replicas reload their tokens within a second; nobody rebuilds the whole snapshot);
- the periodic max-age sweep that warns about keys due for rotation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.security_events import SecurityEvents, Summary
from vaultgate.gateway.snapshot import Refresher
from vaultgate.metrics import Metrics
from vaultgate.policy.grants import KeyGrant
from vaultgate.services import rotation_sweep, short_lived
from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.services.errors import InvalidInput

log = logging.getLogger("vaultgate.hooks")
SYSTEM = Actor(name="gateway", role=Role.OWNER)


class DataPlaneHooks:
    """Bound to one control plane and this replica's refresher."""

    def __init__(
        self,
        cp: ControlPlane,
        refresher: Refresher,
        rotation_interval: float,
        *,
        security: SecurityEvents | None = None,
        security_flush_seconds: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._cp = cp
        self._refresher = refresher
        self._rotation_interval = rotation_interval
        self._tasks: set[asyncio.Task[None]] = set()
        # The data plane's counts of authentication failures and refusals (drained on the event loop).
        self.security = security if security is not None else SecurityEvents()
        self._security_flush_seconds = security_flush_seconds
        self._metrics = metrics

    async def canary_used(self, key_id: str, ex: Exchange) -> None:
        """Raise the alarm: returns once ``canary.used`` is on record (or its write failed and was counted lost)."""
        source = str(ex.client_ip) if ex.client_ip else None
        agent = ex.headers.get(b"user-agent", b"").decode("latin-1")[:200]
        await asyncio.to_thread(self._record_canary, key_id, source, agent)

    def _record_canary(self, key_id: str, source: str | None, agent: str) -> None:
        alarm = Summary("canary.used", key_id, {"source_ip": source, "user_agent": agent})
        try:
            self._write_security_events([alarm], outcome="alert")
        finally:  # the webhook goes out whether or not the trail took the record
            self._cp.notifier.send({"event": "canary.used", "key_id": key_id, "source_ip": source, "user_agent": agent})
            log.warning("canary key %s was used from %s", key_id, source)

    def _write_security_events(self, events: Sequence[Summary], outcome: str) -> None:
        """Chain ``events`` in one transaction; when that fails, log an ERROR and count them lost (no raise:
        the request that raised the event is answered the same either way)."""
        try:
            with self._cp.store.session() as session:
                for event in events:
                    self._cp.audit(session, SYSTEM, event.action, event.target, outcome=outcome, **event.details)
        except Exception as exc:  # any failure loses the events: logged (type only) and counted, never hidden
            log.error(
                "security events lost: %d audit record(s) (%s) could not be written: %s",
                len(events),
                ", ".join(sorted({event.action for event in events})),
                type(exc).__name__,
            )
            if self._metrics is not None:
                self._metrics.security_events_lost(len(events))
            return
        if self._metrics is not None:
            for event in events:
                self._metrics.security_event_written(event.action)

    async def flush_security_events(self) -> None:
        """Write what the data plane counted since the last flush (drained here, on the event loop)."""
        summaries = self.security.drain()
        if not summaries:
            return
        # Shielded: a stop cancelling the flush loop must not abandon records already drained.
        write = asyncio.create_task(asyncio.to_thread(self._write_security_events, summaries, "refused"))
        self._tasks.add(write)
        write.add_done_callback(self._tasks.discard)
        await asyncio.shield(write)

    async def security_events_loop(self) -> None:
        """Flush the security events every ``security_flush_seconds`` seconds."""
        while True:
            await asyncio.sleep(self._security_flush_seconds)
            await self.flush_security_events()

    async def close(self) -> None:
        """A graceful stop: flush the security events counted since the last flush, and wait for every write."""
        await self.flush_security_events()
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def credential_refused(self, provider: str) -> None:
        """Alert that the upstream refused ``provider``'s credential, without delaying the request."""
        task = asyncio.create_task(asyncio.to_thread(self._record_credential_refused, provider))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _record_credential_refused(self, provider: str) -> None:
        with self._cp.store.session() as session:
            self._cp.audit(session, SYSTEM, "provider.credential_refused", provider, outcome="alert")
        self._cp.notifier.send({"event": "provider.credential_refused", "provider": provider})

    async def issue_token(self, grant: KeyGrant, parent_digest: str, body: dict[str, Any]) -> bytes:
        """Store a short-lived token bound to the presented secret and answer with it (shown once)."""
        try:
            issued = await asyncio.to_thread(short_lived.issue, self._cp, grant, parent_digest, body)
        except InvalidInput as exc:
            raise GatewayError(400, getattr(exc, "code", None) or "invalid_request", str(exc)) from None
        self._refresher.add_token(issued.digest, issued.grant, parent_digest)
        return orjson.dumps(
            {
                "object": "vaultgate.token",
                "token": issued.token,
                "expires_at": int(issued.expires_at.timestamp()),
                "policy": issued.policy,
            }
        )

    async def rotation_loop(self) -> None:
        """Announce keys due for rotation every ``rotation_interval`` seconds."""
        while True:
            await asyncio.sleep(self._rotation_interval)
            try:
                await asyncio.to_thread(rotation_sweep.sweep, self._cp)
            except Exception:  # a failed sweep is retried at the next interval; serving goes on
                log.exception("the key rotation sweep failed")
