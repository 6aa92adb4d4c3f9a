"""Short-lived tokens: a member key exchanged for a ``vgt_`` token of at most an hour.

The token carries a subset of the key's rights (its effective policy is the key's effective
policy combined with its own), so laptops and CI jobs hold nothing long-lived. A request for
more than the key has is refused (400 ``policy_exceeds_ceiling``), never silently narrowed. Revoking the
key kills its tokens: the snapshot only loads tokens whose key is live.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vaultgate.keys import tokens
from vaultgate.policy.effective import wider_fields
from vaultgate.policy.grants import KeyGrant, KeyPolicy, PolicyError
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import InvalidInput, PolicyExceedsCeiling
from vaultgate.store.models import ShortLivedToken

DEFAULT_TTL = timedelta(minutes=15)
MAX_TTL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """The new token (shown once) and when it stops working."""

    token: str
    expires_at: datetime
    policy: dict[str, Any]


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


def issue(cp: ControlPlane, parent: KeyGrant, body: dict[str, Any]) -> IssuedToken:
    """Store a new token for the key behind ``parent``; it never outlives the key."""
    if parent.short_lived:
        raise InvalidInput("a short-lived token cannot be exchanged for another one; use a member key")
    lifetime, policy = parse_request(body, parent.policy)
    now = cp.clock()
    expires_at = now + lifetime
    if parent.expires_at is not None:
        expires_at = min(expires_at, parent.expires_at)
    token = tokens.mint(tokens.TokenKind.SHORT_LIVED)
    with cp.store.session() as session:
        session.add(
            ShortLivedToken(
                id=new_id("vgt"),
                key_id=parent.key_id,
                token_hash=cp.hasher.token_hash(token),
                policy=policy.to_json(),
                created_at=now,
                expires_at=expires_at,
            )
        )
        holder = Actor(name=parent.member_name, role=Role.MEMBER, member_id=parent.member_id)
        cp.audit(session, holder, "token.issue", parent.key_id, expires_at=expires_at.isoformat())
        cp.store.notify_change(session)
    return IssuedToken(token, expires_at, policy.to_json())
