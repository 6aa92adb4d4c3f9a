"""Stage 8, account: the request's metadata (never content) queued for the batched usage writer."""

from __future__ import annotations

import time
from datetime import datetime

from vaultgate.gateway import fingerprints
from vaultgate.gateway.exchange import Exchange
from vaultgate.keys.hashing import TokenHasher
from vaultgate.usage.events import UsageRecord, model_label
from vaultgate.usage.pricing import PriceTable

# Refusals that mean the request carried content that must not be kept, its model name included.
_CONTENT_REFUSALS = frozenset({"secret_detected", "pii_blocked"})


def usage_record(
    ex: Exchange, now: datetime, prices: PriceTable | None, hasher: TokenHasher | None = None
) -> UsageRecord | None:
    """What is kept about this request (None when unauthenticated: nobody to account to).

    ``hasher``: keys the client's network and user-agent pseudonyms (without it they are not kept).
    """
    grant = ex.grant
    if grant is None:
        return None
    return UsageRecord(
        at=now,
        request_id=ex.request_id,
        member_id=grant.member_id,
        key_id=grant.key_id,
        provider=ex.provider.name if ex.provider else None,
        # Client-chosen strings are bounded (one oversized value must not make the batched insert
        # fail) and kept only in a non-identifying form: a secret sent as `model` is not stored.
        endpoint=ex.endpoint[:60],
        model=model_label(
            ex.model,
            frozenset(prices.models) if prices is not None else None,
            refused_content=ex.error_code in _CONTENT_REFUSALS,
        ),
        status=ex.status,
        error_code=ex.error_code[:60] if ex.error_code is not None else None,
        stream=ex.stream,
        prompt_tokens=ex.prompt_tokens,
        completion_tokens=ex.completion_tokens,
        cost_usd=cost(ex, prices),
        latency_ms=round((time.perf_counter() - ex.started) * 1000, 3),
        team_id=grant.team_id,
        client_hash=fingerprints.client_hash(hasher, ex.client_ip) if hasher is not None else None,
        agent_hash=fingerprints.agent_hash(hasher, ex.headers.get(b"user-agent")) if hasher is not None else None,
    )


def cost(ex: Exchange, prices: PriceTable | None) -> float | None:
    """The request's list-price cost in USD from its usage (None: no usage or no price)."""
    if prices is None or (ex.prompt_tokens is None and ex.completion_tokens is None):
        return None
    price = prices.find(ex.model)
    if price is None:
        return None
    return price.usd(ex.prompt_tokens or 0, ex.completion_tokens or 0)
