"""The authorization decision for one request: a pure function of (grant, request, now)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from vaultgate.policy.grants import KeyGrant, KeyPolicy
from vaultgate.policy.scopes import group_of, required_level


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the policy needs to know about a request (no content)."""

    method: str
    path: str
    model: str | None
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a request is refused: the HTTP status, OpenAI error code and a safe message."""

    status: int
    code: str
    message: str
    param: str | None = None


# Word for word the gateway's answer to an unknown key (gateway.errors.INVALID_API_KEY_MESSAGE):
# a different message for expired keys would tell a caller the key once existed.
EXPIRED = Denial(
    401,
    "invalid_api_key",
    "Incorrect API key provided. Use a vaultgate member key (vgk_...) issued to you; "
    "ask your vaultgate admin if it stopped working.",
)


LOCKDOWN = Denial(
    403, "permission_denied", "vaultgate is in lockdown: all API access is suspended by an administrator."
)


def decide(grant: KeyGrant, facts: RequestFacts, now: datetime, *, lockdown: bool = False) -> Denial | None:
    """None when the request is allowed, else the Denial to answer with.

    The kill switches come first (lockdown, team, member), then the key's lifetime, then the
    grant's effective policy (organisation, team, key and token already combined, once).
    """
    denial = holder_denial(grant, now, lockdown=lockdown)
    if denial is not None:
        return denial
    return _check_policy(grant.policy, facts)


def holder_denial(grant: KeyGrant, now: datetime, *, lockdown: bool = False) -> Denial | None:
    """The checks that do not depend on the request: lifetime and the kill switches."""
    if grant.expires_at is not None and now >= grant.expires_at:
        # Expired keys get the same answer as unknown ones: no oracle.
        return EXPIRED
    if grant.not_before is not None and now < grant.not_before:
        return EXPIRED
    if lockdown:
        return LOCKDOWN
    if not grant.team_active:
        return Denial(403, "permission_denied", "This member's team is suspended by an administrator.")
    if not grant.member_active:
        return Denial(403, "permission_denied", "This member's access is suspended by an administrator.")
    return None


def takes_model(method: str, path: str) -> bool:
    """Whether the endpoint names a model in its body (so a model allowlist can and must be checked)."""
    return method == "POST" and (path in _MODEL_ENDPOINTS or _MODEL_PATHS.fullmatch(path) is not None)


# The endpoints whose request body carries ``model`` (optional for some upstream, which then picks
# one itself: with an allowlist in force the gateway cannot check that choice, so it asks for it).
_MODEL_ENDPOINTS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/responses",
        "/v1/embeddings",
        "/v1/moderations",
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/images/variations",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
        "/v1/fine_tuning/jobs",
        "/v1/assistants",
        "/v1/threads/runs",
    }
)
_MODEL_PATHS = re.compile(r"/v1/(assistants/[^/]+|threads/[^/]+/runs)")


def _check_policy(policy: KeyPolicy, facts: RequestFacts) -> Denial | None:
    if not policy.allows_ip(facts.client_ip):
        return Denial(403, "ip_not_allowed", "Requests from this IP address are not allowed for this key.")
    group = group_of(facts.path)
    if group is None:
        return Denial(404, "unknown_url", f"vaultgate does not serve {facts.method} {facts.path}.")
    if policy.level(group) < required_level(facts.method):
        return Denial(
            403,
            "permission_denied",
            f"This key does not have the '{group}' scope needed for {facts.method} {facts.path}.",
        )
    if facts.model is None:
        if policy.restricts_models() and takes_model(facts.method, facts.path):
            return Denial(
                400,
                "model_required",
                "This key may use only some models, so the request must name its 'model'.",
                "model",
            )
        return None
    if not policy.allows_model(facts.model):
        return Denial(403, "model_not_allowed", f"This key may not use the model '{facts.model}'.", "model")
    return None
