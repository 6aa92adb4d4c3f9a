"""``GET /v1/models``: the upstream's list, plus the exact route names (aliases), narrowed to the key.

A route name that is not a pattern is a model a client may ask for (``fast`` → gpt-4o-mini), so
it is listed, once, beside the default provider's models. Everything listed is allowed by the
key's model allowlists; under a residency policy, only models that would be routed to an allowed
geography are listed (the same decision a request for the model would get).
"""

from __future__ import annotations

from typing import Any

from vaultgate.gateway.routing import servable
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.policy.grants import KeyPolicy


def narrowed(document: Any, snapshot: Snapshot, policy: KeyPolicy) -> Any:
    """``document`` (an OpenAI model list) with the aliases merged in and what the key may not use left out."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        return document
    listed: list[Any] = []
    seen: set[str] = set()
    for entry in data:
        model = str(entry.get("id", "")) if isinstance(entry, dict) else ""
        if model and model not in seen and _usable(snapshot, model, policy):
            seen.add(model)
            listed.append(entry)
    for alias in snapshot.routes.aliases():
        if alias not in seen and servable(snapshot, alias, policy):
            seen.add(alias)
            listed.append({"id": alias, "object": "model", "created": 0, "owned_by": "vaultgate"})
    return {**document, "data": listed}


def _usable(snapshot: Snapshot, model: str, policy: KeyPolicy) -> bool:
    # Without residency, the model allowlist is the whole question (and no route lookup is needed).
    return servable(snapshot, model, policy) if policy.residency is not None else policy.allows_model(model)
