"""Stage 5, protect: request hygiene, then PII and secret redaction, before anything leaves.

Hygiene (``store:false``, the pseudonymous ``safety_identifier``, ``include_usage`` for
streams) is applied first, so the redaction scan sees exactly what the upstream will see.
"""

from __future__ import annotations

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.privacy import hygiene
from vaultgate.privacy.errors import PrivacyRefusal
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.modes import DEFAULT_POLICY, PrivacyPolicy

USAGE_STREAMS = ("chat/completions", "completions")


async def protect(guard: PrivacyGuard, ex: Exchange) -> None:
    """Rewrite the request for the upstream; 400 ``secret_detected``/``pii_blocked`` when the policy blocks.

    A body over the scanning budget is refused with 413 ``request_too_large``, a scan past its
    deadline with 503 ``privacy_scan_timeout`` (not retried by the SDKs: it would time out again).
    """
    grant = ex.grant
    assert grant is not None
    payload = ex.payload
    if payload is not None:
        endpoint = ex.path[4:]
        if hygiene.apply(payload, endpoint, grant.pseudonym, grant.policy.allow_store):
            ex.body_changed = True
        if ex.stream and endpoint in USAGE_STREAMS:
            options = payload.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage")):
                # Ask upstream for usage; the extra chunk is stripped before the client sees it.
                payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
                ex.strip_usage_chunk = True
                ex.body_changed = True
    policy = privacy_policy(ex)
    target = ex.target
    assert target is not None
    try:
        rmap, changed, params, ex.query = await guard.protect_bounded(
            payload, target.params, ex.query, policy, size=len(ex.body), pseudonym=grant.pseudonym
        )
    except PrivacyRefusal as refusal:
        headers = [(b"x-should-retry", b"false")] if refusal.status >= 500 else None
        raise GatewayError(refusal.status, refusal.code, refusal.message, headers=headers) from None
    ex.target = target.with_params(params)  # the upstream path is built from the redacted parameters
    ex.body_changed = ex.body_changed or changed
    if changed and payload is not None and isinstance(payload.get("model"), str):
        ex.model = payload["model"]  # a redacted model name: routing and adapters see what is sent
    ex.restorer = guard.restorer(rmap, policy)


def privacy_policy(ex: Exchange) -> PrivacyPolicy:
    """The grant's effective privacy policy (organisation, team, key, token: strictest wins), else the defaults."""
    assert ex.grant is not None
    privacy = ex.grant.policy.privacy
    return privacy if privacy is not None else DEFAULT_POLICY
