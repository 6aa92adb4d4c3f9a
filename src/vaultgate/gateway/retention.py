"""Zero retention (issue 10): a team whose policy says ``zero_retention`` leaves nothing stored upstream.

Checked in stage 5, before hygiene forces ``store`` off (see :func:`allow_store`). Per switch:

- endpoints that ask the provider to keep new content (files, uploads, batches, vector stores,
  fine-tuning jobs, containers, conversations: ``Endpoint.stores``) are refused;
- ``background: true`` (the provider keeps the response to be polled), ``conversation`` and
  ``previous_response_id`` (they read state the provider stored) are refused;
- ``prompt_cache_retention: "24h"`` (extended prompt caching keeps the prefix past memory) is refused;
- ``store`` is forced to ``false`` by hygiene, whatever ``allow_store`` says.

Reading or deleting what exists stays allowed: a team switching to zero retention can clean up.
"""

from __future__ import annotations

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.policy.grants import KeyPolicy

CODE = "zero_retention"
# Body fields that make the provider keep, or read kept, state: (field, the value that does it or None for any).
_SWITCHES: tuple[tuple[str, object], ...] = (
    ("background", True),
    ("conversation", None),
    ("previous_response_id", None),
    ("prompt_cache_retention", "24h"),
)


def _refused(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(403, CODE, message, param=param)


def check(ex: Exchange) -> None:
    """403 ``zero_retention`` when the request would leave content stored upstream under a zero-retention policy."""
    assert ex.grant is not None and ex.target is not None
    if not ex.grant.policy.zero_retention:
        return
    endpoint = ex.target.endpoint
    if endpoint.stores:
        raise _refused(f"Your team's policy is zero retention: '{endpoint.name}' would store content at the provider.")
    payload = ex.payload
    if payload is None:
        return
    for name, value in _SWITCHES:
        given = payload.get(name)
        if given is None or given is False:
            continue
        if value is None or given == value:
            raise _refused(
                f"Your team's policy is zero retention: '{name}' keeps or reads state stored at the provider.",
                param=name,
            )


def allow_store(policy: KeyPolicy) -> bool:
    """Whether ``store: true`` may reach the provider: only when allowed and not zero retention."""
    return policy.allow_store and not policy.zero_retention
