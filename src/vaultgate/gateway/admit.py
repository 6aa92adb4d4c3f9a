"""Stage 4, admit: charge the key's, member's and team's limits; settle after the answer.

A refusal is 429 in OpenAI's shape — ``rate_limit_exceeded`` with ``retry-after`` (the SDK
waits and retries) or ``insufficient_quota`` for a spent budget — and 503 when the limits
backend cannot be reached (fail closed), so a key with limits is never served unchecked.
"""

from __future__ import annotations

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange, Headers
from vaultgate.limits.admission import Limiter, LimitRefused, ModelNotPriced, rate_limit_headers, retry_headers
from vaultgate.limits.interface import LimitsUnavailable

_RATE_KINDS = {
    "requests": "requests per minute (RPM)",
    "tokens": "tokens per minute (TPM)",
    "concurrency": "concurrent requests",
}


async def admit(limiter: Limiter | None, ex: Exchange) -> None:
    """Reserve the request against every limit that applies (no limits: nothing to do)."""
    grant = ex.grant
    assert grant is not None
    if limiter is None or grant.limits.empty:
        return
    try:
        ex.limit_ticket = await limiter.admit(
            grant.limits, (grant.key_id, grant.member_id, grant.team_id), ex.request_id, ex.model, ex.payload
        )
    except LimitRefused as refused:
        raise _refusal(refused) from None
    except ModelNotPriced:
        raise GatewayError(
            400,
            "model_not_priced",
            f"The model {ex.model!r} has no price in vaultgate's price table, so this key's budget cannot "
            "be enforced for it. Ask your vaultgate admin to add it to the price table.",
            param="model",
        ) from None
    except LimitsUnavailable:
        raise GatewayError(
            503,
            "limits_unavailable",
            "vaultgate cannot check this key's rate limits and budgets right now (the limits backend is "
            "unreachable), so the request was not sent upstream. Retry shortly.",
        ) from None


async def settle(limiter: Limiter | None, ex: Exchange) -> None:
    """Release the concurrency lease and put real tokens and cost in place of the estimates."""
    ticket, ex.limit_ticket = ex.limit_ticket, None
    if ticket is not None and limiter is not None:
        await limiter.settle(ticket, ex.status, ex.prompt_tokens, ex.completion_tokens)


def headers(ex: Exchange) -> Headers:
    """The ``x-ratelimit-*`` headers for an admitted request (none when it had no limits)."""
    return rate_limit_headers(ex.limit_ticket.admission) if ex.limit_ticket is not None else []


def _refusal(refused: LimitRefused) -> GatewayError:
    adm = refused.admission
    if adm.reason == "budget":
        return GatewayError(
            429,
            "insufficient_quota",
            "This key, its member or its team has used its budget for the current period. "
            "Ask your vaultgate admin to raise it, or wait for the next period (UTC).",
            error_type="insufficient_quota",
            headers=[(b"x-should-retry", b"false")],
        )
    wait = f"{adm.retry_after:.3g}s" if adm.retry_after < 60 else f"{adm.retry_after / 60:.3g}m"
    return GatewayError(
        429,
        "rate_limit_exceeded",
        f"Rate limit reached for {_RATE_KINDS.get(adm.reason or '', 'requests')} on this key, its member or its "
        f"team. Please try again in {wait}.",
        headers=[*retry_headers(adm.retry_after), *rate_limit_headers(adm)],
    )
