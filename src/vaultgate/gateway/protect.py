"""Stage 5, protect: request hygiene, then PII and secret redaction, before anything leaves.

A multipart form's text fields are scanned like JSON strings; since the form is forwarded as
sent, a field the policy would redact refuses the request (file parts are not scanned).

Hygiene (``store:false``, the pseudonymous ``safety_identifier``, ``include_usage`` for
streams) is applied first, so the redaction scan sees exactly what the upstream will see.
"""

from __future__ import annotations

from typing import Any

from vaultgate.gateway import retention
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.form import Form
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
    retention.check(ex)  # zero-retention teams: nothing left stored upstream
    payload = ex.payload
    if payload is not None:
        endpoint = ex.path[4:]
        if hygiene.apply(payload, endpoint, grant.pseudonym, retention.allow_store(grant.policy)):
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
    # A form's text fields are scanned (and budgeted) like a JSON body; its file parts are not.
    fields = _form_fields(ex.form) if ex.form is not None and ex.form.fields else None
    scanned = fields if fields is not None else payload
    size = sum(len(v.encode()) for v in _strings(fields)) if fields is not None else len(ex.body)
    try:
        rmap, changed, params, ex.query = await guard.protect_bounded(
            scanned, target.params, ex.query, policy, size=size, pseudonym=grant.pseudonym
        )
    except PrivacyRefusal as refusal:
        if refusal.kind is not None:
            ex.blocked = (refusal.kind,)
        headers = [(b"x-should-retry", b"false")] if refusal.status >= 500 else None
        raise GatewayError(refusal.status, refusal.code, refusal.message, headers=headers) from None
    if changed and fields is not None:
        ex.blocked = tuple(tag.lower() for tag in rmap.issued())  # found, and refused: nothing was sent
        raise GatewayError(
            400,
            "form_redaction_unsupported",
            "A text field of this form holds data your privacy policy redacts, and vaultgate forwards forms "
            "unchanged. Remove it from the field and send the request again.",
        )
    ex.target = target.with_params(params)  # the upstream path is built from the redacted parameters
    ex.body_changed = ex.body_changed or changed
    if changed and payload is not None and isinstance(payload.get("model"), str):
        ex.model = payload["model"]  # a redacted model name: routing and adapters see what is sent
    ex.restorer = guard.restorer(rmap, policy)
    ex.redactions = rmap if rmap else None  # counted by kind for metrics when the request ends


def _form_fields(form: Form) -> dict[str, Any]:
    """A form's text fields as a payload the redactor scans like JSON (a repeated name: a list of its values)."""
    out: dict[str, Any] = {}
    for f in form.fields:
        if f.name in out:
            previous = out[f.name]
            out[f.name] = [*previous, f.value] if isinstance(previous, list) else [previous, f.value]
        else:
            out[f.name] = f.value
    return out


def _strings(fields: dict[str, Any]) -> list[str]:
    return [v for value in fields.values() for v in (value if isinstance(value, list) else [value])]


def privacy_policy(ex: Exchange) -> PrivacyPolicy:
    """The grant's effective privacy policy (organisation, team, key, token: strictest wins), else the defaults."""
    assert ex.grant is not None
    privacy = ex.grant.policy.privacy
    return privacy if privacy is not None else DEFAULT_POLICY
