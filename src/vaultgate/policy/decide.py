"""The authorization decision for one request: a pure function of (grant, request, now)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from vaultgate.policy.grants import KeyGrant, KeyPolicy
from vaultgate.policy.scopes import required_level


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the policy needs to know about a request (no content)."""

    method: str
    path: str
    model: str | None
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    # From the endpoint's template (gateway/endpoints.py): its scope group (None: not served) and
    # whether its body names a model (so a model allowlist can and must be checked).
    group: str | None = None
    takes_model: bool = False


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


IP_NOT_ALLOWED = Denial(403, "ip_not_allowed", "Requests from this IP address are not allowed for this key.")


def use_denial(
    grant: KeyGrant,
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    now: datetime,
    *,
    lockdown: bool = False,
) -> Denial | None:
    """The refusal of any use of a credential, whatever the request (vaultgate's own endpoints: token
    exchange, whoami): its lifetime, the kill switches, then its IP allowlist."""
    denial = holder_denial(grant, now, lockdown=lockdown)
    if denial is None and not grant.policy.allows_ip(client_ip):
        return IP_NOT_ALLOWED
    return denial


def _check_policy(policy: KeyPolicy, facts: RequestFacts) -> Denial | None:
    if not policy.allows_ip(facts.client_ip):
        return IP_NOT_ALLOWED
    group = facts.group
    if group is None:
        return Denial(404, "unknown_url", f"vaultgate does not serve {facts.method} {facts.path}.")
    if policy.level(group) < required_level(facts.method):
        return Denial(
            403,
            "permission_denied",
            f"This key does not have the '{group}' scope needed for {facts.method} {facts.path}.",
        )
    if facts.model is None:
        # Optional upstream for some endpoints (the upstream then picks one itself): with an
        # allowlist in force the gateway cannot check that choice, so it asks for the model.
        if policy.restricts_models() and facts.takes_model:
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
