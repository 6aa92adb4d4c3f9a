"""Short-lived tokens: a member key exchanged for a ``vgt_`` token of at most an hour.

The token carries a subset of the key's rights (its effective policy is the key's effective
policy combined with its own), so laptops and CI jobs hold nothing long-lived. A request for
more than the key has is refused (400 ``policy_exceeds_ceiling``), never silently narrowed.
A token is bound to the very secret it was exchanged for: revoking the key, its expiry, or
rotating it (once the old secret's grace is over) ends the token too. Issuing one bumps only
the token counter, so replicas reload their tokens, not the whole snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from vaultgate.keys import tokens
from vaultgate.policy.effective import combine, wider_fields
from vaultgate.policy.grants import KeyGrant, KeyPolicy, PolicyError
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import InvalidInput, PolicyExceedsCeiling
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


def parse_request(body: dict[str, Any], within: KeyPolicy | None = None) -> tuple[timedelta, KeyPolicy]:
    """(lifetime, narrowing policy) from a request body; InvalidInput with a precise message.

    With ``within`` (the key's effective policy), a request for more than it allows raises
    PolicyExceedsCeiling naming the fields; what the body leaves out is inherited, not wider.
    """
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
    wider = wider_fields(policy, within) if within is not None else ()
    if wider:
        raise PolicyExceedsCeiling(f"the token asks for more than its key allows in: {', '.join(wider)}")
    return timedelta(seconds=seconds), policy


def token_grant(parent: KeyGrant, policy: KeyPolicy, expires_at: datetime) -> KeyGrant:
    """What the hot path serves a token with: the parent's effective policy combined with the token's own,
    ending no later than the parent."""
    ends = expires_at if parent.expires_at is None else min(expires_at, parent.expires_at)
    return replace(parent, policy=combine(parent.policy, policy), expires_at=ends, short_lived=True)


def issue(cp: ControlPlane, parent: KeyGrant, parent_digest: str, body: dict[str, Any]) -> IssuedToken:
    """Store a new token bound to the secret whose keyed hash is ``parent_digest``; it never outlives it."""
    if parent.short_lived:
        raise InvalidInput("a short-lived token cannot be exchanged for another one; use a member key")
    lifetime, policy = parse_request(body, parent.policy)
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
