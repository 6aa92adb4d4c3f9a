"""The few control-plane writes the data plane triggers, run off the event loop.

- a canary key was used: audit ``canary.used`` (source IP, user agent) and send the webhook;
- an upstream refused a provider's credential: audit ``provider.credential_refused`` and send the webhook
  (once per credential: the failover loop marks it and skips it until it changes);
- a member key is exchanged for a short-lived token: store it and serve it here at once
  (other replicas reload their tokens within a second; nobody rebuilds the whole snapshot);
- the periodic max-age sweep that warns about keys due for rotation.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.snapshot import Refresher
from vaultgate.policy.grants import KeyGrant
from vaultgate.services import rotation_sweep, short_lived
from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.services.errors import InvalidInput

log = logging.getLogger("vaultgate.hooks")
SYSTEM = Actor(name="gateway", role=Role.OWNER)


class DataPlaneHooks:
    """Bound to one control plane and this replica's refresher."""

    def __init__(self, cp: ControlPlane, refresher: Refresher, rotation_interval: float) -> None:
        self._cp = cp
        self._refresher = refresher
        self._rotation_interval = rotation_interval
        self._tasks: set[asyncio.Task[None]] = set()

    def canary_used(self, key_id: str, ex: Exchange) -> None:
        """Raise the alarm without delaying the (401) answer."""
        source = str(ex.client_ip) if ex.client_ip else None
        agent = ex.headers.get(b"user-agent", b"").decode("latin-1")[:200]
        task = asyncio.create_task(asyncio.to_thread(self._record_canary, key_id, source, agent))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _record_canary(self, key_id: str, source: str | None, agent: str) -> None:
        with self._cp.store.session() as session:
            self._cp.audit(session, SYSTEM, "canary.used", key_id, outcome="alert", source_ip=source, user_agent=agent)
        self._cp.notifier.send({"event": "canary.used", "key_id": key_id, "source_ip": source, "user_agent": agent})
        log.warning("canary key %s was used from %s", key_id, source)

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
