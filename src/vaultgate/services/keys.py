"""Member keys: create (shown once), list, revoke, rotate with a grace period, canaries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vaultgate.keys import tokens
from vaultgate.keys.hashing import fingerprint
from vaultgate.policy.effective import combine, wider_fields
from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services import access, members, org
from vaultgate.services.context import Actor, ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound, PolicyExceedsCeiling
from vaultgate.services.limit_input import parse_limits
from vaultgate.services.refusals import refusals_audited
from vaultgate.services.rotation import rotation_status
from vaultgate.store.models import Member, MemberKey, Team, UsageEvent

# At most 12 digits: a longer number cannot be a sensible duration, and int() of thousands of digits is slow.
_DURATION = re.compile(r"^([0-9]{1,12})([smhdw])$")  # ASCII digits only: int() also reads other scripts' digits
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_GRACE = "24h"
# Longer than any key, token or grace period should live; also keeps every date arithmetic in range.
MAX_DURATION = timedelta(days=3653)


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w``, ``0s`` → timedelta of at most 10 years; InvalidInput otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidInput(f"invalid duration {text[:40]!r}: use a number and s, m, h, d or w (for example 90d)")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION.total_seconds():
        raise InvalidInput(f"invalid duration {text[:40]!r}: at most 10 years (3653d)")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key's metadata; never its secret."""

    id: str
    member: str
    name: str | None
    display: str
    policy: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    status: str
    not_before: datetime | None = None
    rotated_at: datetime | None = None
    previous_expires_at: datetime | None = None
    rotation_due: bool = False
    age_days: int = 0
    canary: bool = False
    limits: dict[str, Any] = field(default_factory=dict)
    # What is enforced: the key's policy under its team's and the organisation's (None: unreadable,
    # the key is refused); ``narrowed`` names what the key asks for beyond that ceiling.
    effective_policy: dict[str, Any] | None = None
    narrowed: list[str] = field(default_factory=list)
    # The time of the key's latest request in the usage records (None: never used, or purged); ``list_keys`` only.
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A freshly minted (or rotated) key: ``token`` exists only in this value, shown once."""

    info: KeyInfo
    token: str


def _status(row: MemberKey, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    if row.not_before is not None and now < row.not_before:
        return "pending"
    return "active"


def ceiling_of(session: Session, team: Team | None) -> KeyPolicy | None:
    """The team's and the organisation's policies combined (None: neither has one); PolicyError if unreadable."""
    return org.ceiling(session, team.policy if team is not None else None)


def _effective(row: MemberKey, ceiling: KeyPolicy | None) -> tuple[dict[str, Any] | None, list[str]]:
    try:
        policy = KeyPolicy.from_json(row.policy)
    except PolicyError:
        return None, []
    if ceiling is None:
        return policy.to_json(), []
    return combine(policy, ceiling).to_json(), list(wider_fields(policy, ceiling))


def info(row: MemberKey, member: Member, team: Team | None, now: datetime, ceiling: KeyPolicy | None = None) -> KeyInfo:
    """The shown form of a key row; ``ceiling`` (see :func:`ceiling_of`) gives its effective policy."""
    due, age = rotation_status(row, team, now)
    effective, narrowed = _effective(row, ceiling)
    return KeyInfo(
        id=row.id,
        member=member.name,
        name=row.name,
        display=row.display,
        policy=row.policy,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        status=_status(row, now),
        not_before=row.not_before,
        rotated_at=row.rotated_at,
        previous_expires_at=row.previous_expires_at,
        rotation_due=due and row.revoked_at is None and not row.canary,
        age_days=age,
        canary=row.canary,
        limits=row.limits,
        effective_policy=effective,
        narrowed=narrowed,
    )


def _team(session: Session, member: Member) -> Team | None:
    return session.get(Team, member.team_id) if member.team_id else None


def _shown(session: Session, row: MemberKey, member: Member, now: datetime) -> KeyInfo:
    team = _team(session, member)
    try:
        ceiling = ceiling_of(session, team)
    except PolicyError:
        return info(row, member, team, now)  # the snapshot refuses the key; show its own policy only
    return info(row, member, team, now, ceiling)


def _check_ceiling(session: Session, actor: Actor, member: Member, policy: KeyPolicy) -> None:
    """PolicyExceedsCeiling if ``policy`` is wider than its team's and organisation's policy, unless the actor
    may raise those."""
    try:
        ceiling = ceiling_of(session, _team(session, member))
    except PolicyError:
        raise Conflict("the team's or the organisation's stored policy is unreadable; fix it first") from None
    if ceiling is None or access.can_exceed_ceiling(actor):
        return  # an owner or org admin may: the effective policy narrows it, and key info shows where
    wider = wider_fields(policy, ceiling)
    if wider:
        raise PolicyExceedsCeiling(
            f"the key's policy is wider than its ceiling (its team's and the organisation's policy) in: "
            f"{', '.join(wider)}; narrow it, or ask an organisation admin"
        )


def _instant(text: str | None, now: datetime, what: str) -> datetime | None:
    if text is None:
        return None
    if _DURATION.match(text.strip()):
        return now + parse_duration(text)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"invalid {what} {text[:40]!r}: use a duration (90d) or an ISO 8601 time with offset"
        ) from None
    if value.tzinfo is None:
        raise InvalidInput(f"invalid {what} {text[:40]!r}: give a UTC offset (for example 2027-01-01T00:00:00+00:00)")
    try:
        # Years 1 and 9999 with an offset fall outside datetime's range once converted to UTC.
        value = value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"invalid {what} {text[:40]!r}: out of range") from None
    if abs(value - now) > MAX_DURATION:
        raise InvalidInput(f"invalid {what} {text[:40]!r}: at most 10 years from now")
    return value


@refusals_audited("key.create")
def create(
    cp: ControlPlane,
    actor: Actor,
    member_name: str,
    *,
    policy: dict[str, Any] | None = None,
    expires_in: str | None = None,
    not_before: str | None = None,
    name: str | None = None,
    canary: bool = False,
    limits: dict[str, Any] | None = None,
) -> CreatedKey:
    """Mint a key for a member; the plaintext is returned once and never stored."""
    try:
        parsed = KeyPolicy.from_json(policy or {})
    except PolicyError as exc:
        raise InvalidInput(str(exc)) from None
    parsed_limits = parse_limits(cp, limits, parsed.models)
    now = cp.clock()
    expires_at = _instant(expires_in, now, "expiry")
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expiry must be in the future")
    starts_at = _instant(not_before, now, "not-before time")
    if starts_at is not None and expires_at is not None and starts_at >= expires_at:
        raise InvalidInput("not-before time must be earlier than the expiry")
    if canary and not access.is_org_manager(actor):
        raise NotAuthorised("only an owner or an organisation admin may mint canary keys")
    token = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    with cp.store.session() as session:
        member = members.find(session, member_name)
        if not access.can_view(actor, member):
            raise NotFound(f"no member named {member_name!r}")
        access.require_manage_keys(actor, member, "create")
        _check_ceiling(session, actor, member, parsed)
        row = MemberKey(
            id=new_id("key"),
            member_id=member.id,
            name=name,
            key_hash=cp.hasher.token_hash(token),
            fingerprint=fingerprint(token),
            display=tokens.display(token),
            policy=parsed.to_json(),
            limits=parsed_limits.to_json(),
            created_at=now,
            not_before=starts_at,
            expires_at=expires_at,
            revoked_at=None,
            canary=canary,
        )
        session.add(row)
        session.flush()
        cp.audit(
            session, actor, "canary.create" if canary else "key.create", row.id, member=member.id, display=row.display
        )
        cp.store.notify_change(session)
        return CreatedKey(info=_shown(session, row, member, now), token=token)


def list_keys(cp: ControlPlane, actor: Actor, member_name: str | None = None) -> list[KeyInfo]:
    """Keys in the actor's scope (members: only their own; team admins: their team's), filtered in the query."""
    now = cp.clock()
    with cp.store.session() as session:
        query = (
            select(MemberKey, Member, Team)
            .join(Member, MemberKey.member_id == Member.id)
            .outerjoin(Team, Member.team_id == Team.id)
            .where(access.key_scope(actor))
        )
        if member_name is not None:
            member = members.find_visible(session, actor, member_name)
            query = query.where(MemberKey.member_id == member.id)
        rows = session.execute(query.order_by(MemberKey.created_at, MemberKey.id)).all()
        used = last_used(session, [row.id for row, _, _ in rows])
        return [replace(_shown(session, row, member, now), last_used_at=used.get(row.id)) for row, member, _ in rows]


def last_used(session: Session, key_ids: list[str]) -> dict[str, datetime]:
    """Each key's latest request time, read from the usage records the batched writer already keeps
    (``max(at)`` per key over the ``(key_id, at)`` index); keys never used are absent."""
    found: dict[str, datetime] = {}
    for start in range(0, len(key_ids), 500):  # bounded IN lists (SQLite caps bound parameters)
        chunk = key_ids[start : start + 500]
        query = (
            select(UsageEvent.key_id, func.max(UsageEvent.at))
            .where(UsageEvent.key_id.in_(chunk))
            .group_by(UsageEvent.key_id)
        )
        found.update({key_id: at for key_id, at in session.execute(query).all() if key_id is not None})
    return found


def find_key(session: Session, actor: Actor, key_id: str) -> tuple[MemberKey, Member]:
    """The key and its member; NotFound also when the key is outside the actor's scope (no oracle)."""
    found = session.execute(
        select(MemberKey, Member)
        .join(Member, MemberKey.member_id == Member.id)
        .where(MemberKey.id == key_id)
        .where(access.key_scope(actor))
    ).first()
    if found is None:
        raise NotFound(f"no key with id {key_id!r}")
    return found[0], found[1]


def _require_manage(actor: Actor, member: Member, what: str) -> None:
    access.require_manage_keys(actor, member, what)


@refusals_audited("key.revoke")
def revoke(cp: ControlPlane, actor: Actor, key_id: str, reason: str = "revoked") -> KeyInfo:
    """Revoke a key (and any short-lived tokens from it) on every replica within a second."""
    now = cp.clock()
    with cp.store.session() as session:
        row, member = find_key(session, actor, key_id)
        _require_manage(actor, member, "revoke")
        if row.revoked_at is not None:
            raise Conflict(f"key {key_id} is already revoked")
        row.revoked_at = now
        row.revoked_reason = reason
        cp.audit(session, actor, "key.revoke", row.id, member=member.id, reason=reason)
        cp.store.notify_change(session)
        return _shown(session, row, member, now)


@refusals_audited("key.rotate")
def rotate(cp: ControlPlane, actor: Actor, key_id: str, grace: str = DEFAULT_GRACE) -> CreatedKey:
    """A new secret under the same key id; the old one keeps working for ``grace`` (0 allowed)."""
    grace_period = parse_duration(grace)
    now = cp.clock()
    token = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    with cp.store.session() as session:
        row, member = find_key(session, actor, key_id)
        _require_manage(actor, member, "rotate")
        if row.revoked_at is not None:
            raise Conflict(f"key {key_id} is revoked; create a new key instead of rotating it")
        if row.canary:
            raise Conflict(f"key {key_id} is a canary; canaries are not rotated")
        if grace_period > timedelta(0):
            row.previous_key_hash, row.previous_fingerprint = row.key_hash, row.fingerprint
            row.previous_expires_at = now + grace_period
        else:
            row.previous_key_hash = row.previous_fingerprint = row.previous_expires_at = None
        row.key_hash = cp.hasher.token_hash(token)
        row.fingerprint = fingerprint(token)
        row.display = tokens.display(token)
        row.rotated_at = now
        cp.audit(
            session, actor, "key.rotate", row.id, member=member.id, grace_seconds=int(grace_period.total_seconds())
        )
        cp.store.notify_change(session)
        return CreatedKey(info=_shown(session, row, member, now), token=token)
