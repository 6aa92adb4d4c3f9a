"""Member keys: create (shown once), list, revoke, and revoke on a reported leak."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate import config
from vaultgate.keys import tokens
from vaultgate.keys.hashing import fingerprint
from vaultgate.limits.interface import LimitsError
from vaultgate.limits.rules import Limits, check_priced
from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services import members
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound
from vaultgate.store.models import Member, MemberKey
from vaultgate.usage import pricing

_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m``, ``2w`` → timedelta; InvalidInput otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise InvalidInput(f"invalid duration {text!r}: use a number and m, h, d or w (for example 90d)")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


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


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A freshly minted key: ``token`` exists only in this value, shown once."""

    info: KeyInfo
    token: str


def _status(row: MemberKey, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def _info(row: MemberKey, member_name: str, now: datetime) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        member=member_name,
        name=row.name,
        display=row.display,
        policy=row.policy,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        status=_status(row, now),
    )


def _require_owner_or_manager(actor: Actor, member: Member, what: str) -> None:
    if actor.manages_org:
        return
    if actor.role is Role.MEMBER and actor.member_id == member.id:
        return
    raise NotAuthorised(f"the {actor.role.value} role may not {what} another member's keys")


def parse_limits(data: dict[str, Any] | None, models: Iterable[str] = ()) -> Limits:
    """Validated limits (rpm, tpm, concurrency, budget_usd, budget_period); InvalidInput naming the bad value."""
    try:
        parsed = Limits.from_json(data)
        check_priced(parsed, models, pricing.load(config.load().prices_file))
    except (LimitsError, pricing.PriceTableError) as exc:
        raise InvalidInput(str(exc)) from None
    return parsed


def create(
    cp: ControlPlane,
    actor: Actor,
    member_name: str,
    *,
    policy: dict[str, Any] | None = None,
    expires_in: str | None = None,
    name: str | None = None,
    limits: dict[str, Any] | None = None,
) -> CreatedKey:
    """Mint a key for a member; the plaintext is returned once and never stored."""
    try:
        parsed = KeyPolicy.from_json(policy or {})
    except PolicyError as exc:
        raise InvalidInput(str(exc)) from None
    parsed_limits = parse_limits(limits, parsed.models)
    now = cp.clock()
    expires_at = None
    if expires_in is not None:
        delta = parse_duration(expires_in)
        if delta <= timedelta(0):
            raise InvalidInput("expiry must be in the future")
        expires_at = now + delta
    token = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    with cp.store.session() as session:
        member = members.find(session, member_name)
        _require_owner_or_manager(actor, member, "create")
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
            expires_at=expires_at,
            revoked_at=None,
        )
        session.add(row)
        session.flush()
        cp.audit(session, actor, "key.create", row.id, member=member.name, display=row.display)
        cp.store.notify_change(session)
        return CreatedKey(info=_info(row, member.name, now), token=token)


def list_keys(cp: ControlPlane, actor: Actor, member_name: str | None = None) -> list[KeyInfo]:
    """Keys visible to the actor: all for managers and auditors, one's own for members."""
    now = cp.clock()
    with cp.store.session() as session:
        query = select(MemberKey, Member.name).join(Member, MemberKey.member_id == Member.id)
        if member_name is not None:
            member = members.find(session, member_name)
            if actor.role is Role.MEMBER and member.id != actor.member_id:
                raise NotFound(f"no member named {member_name!r}")
            query = query.where(MemberKey.member_id == member.id)
        if actor.role is Role.MEMBER:
            query = query.where(MemberKey.member_id == actor.member_id)
        rows = session.execute(query.order_by(MemberKey.created_at, MemberKey.id)).all()
        return [_info(row, name, now) for row, name in rows]


def _find_key(session: Session, actor: Actor, key_id: str) -> tuple[MemberKey, Member]:
    found = session.execute(
        select(MemberKey, Member).join(Member, MemberKey.member_id == Member.id).where(MemberKey.id == key_id)
    ).first()
    # A member asking about someone else's key learns nothing: same answer as a missing key.
    if found is None or (actor.role is Role.MEMBER and found[1].id != actor.member_id):
        raise NotFound(f"no key with id {key_id!r}")
    return found[0], found[1]


def revoke(cp: ControlPlane, actor: Actor, key_id: str, reason: str = "revoked") -> KeyInfo:
    """Revoke a key on every replica within a second; Conflict if it is already revoked."""
    now = cp.clock()
    with cp.store.session() as session:
        row, member = _find_key(session, actor, key_id)
        _require_owner_or_manager(actor, member, "revoke")
        if row.revoked_at is not None:
            raise Conflict(f"key {key_id} is already revoked")
        row.revoked_at = now
        row.revoked_reason = reason
        cp.audit(session, actor, "key.revoke", row.id, member=member.name, reason=reason)
        cp.store.notify_change(session)
        return _info(row, member.name, now)


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def revoke_leaked(cp: ControlPlane, actor: Actor, fingerprints: list[str], source: str) -> tuple[list[KeyInfo], int]:
    """Revoke every live key whose SHA-256 fingerprint was reported leaked; (revoked, unknown count)."""
    actor.require_manager("revoke leaked keys")
    bad = [f for f in fingerprints if not _HEX64.match(f)]
    if bad:
        raise InvalidInput("fingerprints must be 64 lower-case hex characters (SHA-256 of the token)")
    now = cp.clock()
    revoked: list[KeyInfo] = []
    unknown = 0
    with cp.store.session() as session:
        for fp in dict.fromkeys(fingerprints):
            found = session.execute(
                select(MemberKey, Member)
                .join(Member, MemberKey.member_id == Member.id)
                .where(MemberKey.fingerprint == fp)
            ).first()
            if found is None:
                unknown += 1
                continue
            row, member = found
            if row.revoked_at is None:
                row.revoked_at = now
                row.revoked_reason = "leaked"
                revoked.append(_info(row, member.name, now))
            cp.audit(session, actor, "key.leaked", row.id, member=member.name, source=source[:60])
        if revoked:
            cp.store.notify_change(session)
    return revoked, unknown
