"""Short-lived tokens: a member key exchanged for a ``vgt_`` token of at most an hour.

The token carries a subset of the key's rights (its own policy is checked *as well as*
the key's and the team's), so laptops and CI jobs hold nothing long-lived. A token is bound
to the very secret it was exchanged for: revoking the key, its expiry, or rotating it (once
the old secret's grace is over) ends the token too. Issuing one bumps only the token counter,
so replicas reload their tokens, not the whole snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from vaultgate.keys import tokens
from vaultgate.policy.grants import KeyGrant, KeyPolicy, PolicyError
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import InvalidInput
from vaultgate.store.models import ShortLivedToken

DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The new token (shown once), when it stops working, and the grant the hot path serves it with."""

    token: str
    expires_at: datetime
    policy: dict[str, Any]
    digest: str = field(repr=False)
    grant: KeyGrant = field(repr=False)


def parse_request(body: dict[str, Any]) -> tuple[timedelta, KeyPolicy]:
    """(lifetime, narrowing policy) from a request body; InvalidInput with a precise message."""
    unknown = set(body) - {"expires_in", "models", "scopes", "ip_allow"}
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(sorted(unknown))}")
    seconds = body.get("expires_in", int(DEFAULT_TTL.total_seconds()))
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= MAX_TTL.total_seconds():
        raise InvalidInput("expires_in must be a whole number of seconds between 1 and 3600")
    try:
        policy = KeyPolicy.from_json({k: v for k, v in body.items() if k != "expires_in"})
    except PolicyError as exc:
        raise InvalidInput(str(exc)) from None
    return timedelta(seconds=seconds), policy


def token_grant(parent: KeyGrant, policy: KeyPolicy, expires_at: datetime) -> KeyGrant:
    """What the hot path serves a token with: the parent's grant, narrowed, ending no later than the parent."""
    ends = expires_at if parent.expires_at is None else min(expires_at, parent.expires_at)
    return replace(parent, policy=policy, ceilings=(parent.policy, *parent.ceilings), expires_at=ends, short_lived=True)


def issue(cp: ControlPlane, parent: KeyGrant, parent_digest: str, body: dict[str, Any]) -> IssuedToken:
    """Store a new token bound to the secret whose keyed hash is ``parent_digest``; it never outlives it."""
    if parent.short_lived:
        raise InvalidInput("a short-lived token cannot be exchanged for another one; use a member key")
    lifetime, policy = parse_request(body)
    now = cp.clock()
    token = tokens.mint(tokens.TokenKind.SHORT_LIVED)
    digest = cp.hasher.token_hash(token)
    grant = token_grant(parent, policy, now + lifetime)
    assert grant.expires_at is not None
    with cp.store.session() as session:
        session.add(
            ShortLivedToken(
                id=new_id("vgt"),
                key_id=parent.key_id,
                token_hash=digest,
                policy=policy.to_json(),
                created_at=now,
                expires_at=grant.expires_at,
                parent_key_hash=parent_digest,
            )
        )
        holder = Actor(name=parent.member_name, role=Role.MEMBER, member_id=parent.member_id)
        cp.audit(session, holder, "token.issue", parent.key_id, expires_at=grant.expires_at.isoformat())
        cp.store.notify_tokens(session)
    return IssuedToken(token, grant.expires_at, policy.to_json(), digest, grant)
