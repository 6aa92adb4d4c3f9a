"""``GET /v1/vaultgate/whoami``: who the presented credential speaks for, and what it may do.

vaultgate's own endpoint (nothing goes upstream): the member, team, the key's display form and
the effective policy already in the snapshot, never a secret. It is refused exactly like any
use of the credential (one 401 for unknown, revoked or expired; the kill switches; the IP
allowlist), so ``vaultgate login`` can check a key before storing it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from vaultgate.gateway import authn, security_events
from vaultgate.gateway.asgi import Send, send_response
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.policy.decide import use_denial
from vaultgate.policy.grants import KeyGrant
from vaultgate.policy.scopes import GROUPS


def identity(grant: KeyGrant) -> dict[str, Any]:
    """The identity document of a grant: names, display forms and the effective policy, no secret."""
    policy = grant.policy
    model_lists = [list(patterns) for patterns in (policy.models, *policy.model_ceilings) if patterns]
    return {
        "object": "vaultgate.identity",
        "member": grant.member_name,
        "team": grant.team_name,
        "credential": "token" if grant.short_lived else "key",
        "key": grant.key_display,
        "key_id": grant.key_id,
        # Every list must allow a model (the key's, then its ceilings'); none: any model.
        "models": model_lists[0] if model_lists else [],
        "model_ceilings": model_lists[1:],
        "scopes": {group: policy.level(group).name.lower() for group in GROUPS},
        "ip_allow": [str(n) for n in policy.ip_allow],
        "expires_at": int(grant.expires_at.timestamp()) if grant.expires_at is not None else None,
    }


class Whoami:
    """The whoami endpoint of one data plane."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock

    async def __call__(self, ex: Exchange, snapshot: Snapshot, send: Send) -> None:
        """Refuse like any use of the credential, or answer its identity."""
        grant = ex.grant
        assert grant is not None
        denial = use_denial(grant, ex.client_ip, self._clock(), lockdown=snapshot.lockdown)
        if denial is not None:
            if denial.status == 401:  # expired or not yet valid: the same 401 as an unknown key
                raise authn.refused(grant.key_id, security_events.EXPIRED)
            raise GatewayError(denial.status, denial.code, denial.message)
        ex.status = 200
        body = orjson.dumps(identity(grant))
        await send_response(send, 200, body, [(b"x-request-id", ex.request_id.encode())])
