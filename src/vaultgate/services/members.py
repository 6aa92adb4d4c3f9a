"""Members: add, list, look up, update (team, role, email, display name), suspend, remove."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vaultgate.policy.effective import wider_fields
from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services import access, org
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound, PolicyExceedsCeiling
from vaultgate.services.limit_input import parse_limits
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import AdminToken, Member, MemberKey, ShortLivedToken, Team

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REMOVED = "removed"
# A member in one of these states is kept for the usage and audit records that name them, and changes no more.
FINAL_STATES = ("erased", REMOVED)


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A member as the API and CLI show it."""

    id: str
    name: str
    email: str | None
    team: str | None
    role: str
    status: str
    created_at: datetime
    display_name: str | None = None


def check_name(kind: str, name: str) -> str:
    """A valid member/team name, or InvalidInput saying what is allowed."""
    if not _NAME.match(name or ""):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use 1-100 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def _info(member: Member, team: Team | None) -> MemberInfo:
    return MemberInfo(
        id=member.id,
        name=member.name,
        email=member.email,
        team=team.name if team else None,
        role=member.role,
        status=member.status,
        created_at=member.created_at,
        display_name=member.display_name,
    )


def check_email(email: str) -> str:
    """A plausible email address (at most 320 characters), or InvalidInput."""
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidInput(f"invalid email address {email[:320]!r}")
    return email


def check_display_name(text: str) -> str:
    """A display name of 1-200 printable characters (surrounding spaces dropped), or InvalidInput."""
    value = text.strip()
    if not value or len(value) > 200 or _CONTROL.search(value):
        raise InvalidInput("invalid display name: use 1-200 printable characters")
    return value


def find(session: Session, name: str) -> Member:
    """The member called ``name`` (or with that id); NotFound otherwise."""
    member = session.scalar(select(Member).where((Member.name == name) | (Member.id == name)))
    if member is None:
        raise NotFound(f"no member named {name!r}")
    return member


def team_for(session: Session, cp: ControlPlane, name: str, actor: Actor, *, create: bool = False) -> Team:
    """The team called ``name``; with ``create``, created when missing (organisation managers only).

    Without ``create`` an unknown name is NotFound: a typo must not make a new team with no ceiling.
    """
    team = session.scalar(select(Team).where(Team.name == name))
    if team is not None:
        return team
    if not create:
        raise NotFound(
            f"no team named {name!r}; create it first ('vaultgate team create', POST /admin/teams) "
            "or ask for it with the member ('--create-team', \"create_team\": true)"
        )
    access.require_org_manager(actor, "create teams")
    team = Team(
        id=new_id("team"),
        name=check_name("team", name),
        suspended=False,
        created_at=cp.clock(),
        policy={},
        limits={},
        expire_overdue_keys=False,
    )
    session.add(team)
    session.flush()
    cp.audit(session, actor, "team.create", team.name)
    return team


@refusals_audited("member.create")
def add(
    cp: ControlPlane,
    actor: Actor,
    name: str,
    *,
    email: str | None = None,
    team: str | None = None,
    role: str = "member",
    create_team: bool = False,
) -> MemberInfo:
    """Create a member; Conflict if the name is taken. An unknown team is NotFound unless ``create_team``
    (organisation managers only) asks for it to be created."""
    access.require_manager(actor, "add members")
    check_name("member", name)
    parsed_role = access.parse_role(role)
    if email is not None:
        check_email(email)
    with cp.store.session() as session:
        named = session.scalar(select(Team).where(Team.name == team)) if team is not None else None
        new_team = team is not None and named is None  # created below, by an organisation manager only
        team_id = access.default_team_id(actor) if team is None else (named.id if named else None)
        access.require_add_member(actor, parsed_role, team_id, new_team=new_team)
        if session.scalar(select(Member.id).where(Member.name == name)) is not None:
            raise Conflict(f"a member named {name!r} already exists")
        if team is not None:
            team_row: Team | None = team_for(session, cp, team, actor, create=create_team)
        else:
            team_row = session.get(Team, team_id) if team_id is not None else None
        member = Member(
            id=new_id("mem"),
            name=name,
            email=email,
            team_id=team_row.id if team_row else None,
            role=parsed_role.value,
            status="active",
            created_at=cp.clock(),
            limits={},
        )
        session.add(member)
        session.flush()
        cp.audit(
            session, actor, "member.create", member.id, role=parsed_role.value, team=team_row.name if team_row else None
        )
        return _info(member, team_row)


def list_members(cp: ControlPlane, actor: Actor) -> list[MemberInfo]:
    """The members in the actor's scope (members: only themselves; team admins: their team)."""
    with cp.store.session() as session:
        query = (
            select(Member, Team)
            .outerjoin(Team, Member.team_id == Team.id)
            .where(access.member_scope(actor))
            .order_by(Member.name)
        )
        return [_info(m, t) for m, t in session.execute(query).all()]


def find_visible(session: Session, actor: Actor, name: str) -> Member:
    """The member called ``name`` (or with that id) within the actor's scope; NotFound otherwise (no oracle)."""
    member = session.scalar(
        select(Member).where((Member.name == name) | (Member.id == name)).where(access.member_scope(actor))
    )
    if member is None:
        raise NotFound(f"no member named {name!r}")
    return member


def _set_status(cp: ControlPlane, actor: Actor, name: str, status: str) -> MemberInfo:
    with cp.store.session() as session:
        member = find_visible(session, actor, name)
        access.require_change_member(actor, member, f"change the access of {member.name!r}")
        if member.status in FINAL_STATES:  # an erasure (services/subject_rights.py) or a removal is final
            raise Conflict(f"member {member.name!r} is {member.status}")
        team = session.get(Team, member.team_id) if member.team_id else None
        if member.status == status:
            return _info(member, team)  # already so: nothing changes, nothing is audited (docs/ACCESS.md)
        member.status = status
        cp.audit(session, actor, "member.suspend" if status == "suspended" else "member.resume", member.id)
        cp.store.notify_change(session)
        return _info(member, team)


@refusals_audited("member.suspend")
def suspend(cp: ControlPlane, actor: Actor, name: str) -> MemberInfo:
    """Kill switch for one member: every key refused with 403 on every replica within a second.

    Idempotent: suspending a suspended member changes nothing (compare ``status`` before and after)."""
    return _set_status(cp, actor, name, "suspended")


@refusals_audited("member.resume")
def resume(cp: ControlPlane, actor: Actor, name: str) -> MemberInfo:
    """Lift a member's suspension."""
    return _set_status(cp, actor, name, "active")


@refusals_audited("member.limits")
def set_limits(cp: ControlPlane, actor: Actor, name: str, limits: dict[str, Any]) -> dict[str, Any]:
    """Rate limits and budget shared by all of a member's keys (empty: none)."""
    parsed = parse_limits(cp, limits).to_json()
    with cp.store.session() as session:
        member = find_visible(session, actor, name)
        access.require_change_member(actor, member, f"set the limits of {member.name!r}")
        member.limits = parsed
        cp.audit(session, actor, "member.limits", member.id, limits=parsed)
        cp.store.notify_change(session)
    return parsed


def require_keys_within(session: Session, member: Member, team: Team) -> None:
    """PolicyExceedsCeiling naming the first live key (and its fields) wider than ``team``'s ceiling."""
    try:
        ceiling = org.ceiling(session, team.policy)
    except PolicyError:
        raise Conflict(
            f"team {team.name!r}'s or the organisation's stored policy is unreadable; fix it first"
        ) from None
    if ceiling is None:
        return
    live = select(MemberKey).where(MemberKey.member_id == member.id, MemberKey.revoked_at.is_(None))
    for key in session.scalars(live.order_by(MemberKey.created_at, MemberKey.id)):
        try:
            wider = wider_fields(KeyPolicy.from_json(key.policy), ceiling)
        except PolicyError:
            continue  # an unreadable key is refused at the gateway whatever the team
        if wider:
            raise PolicyExceedsCeiling(
                f"key {key.id} is wider than team {team.name!r}'s ceiling in: {', '.join(wider)}; "
                "revoke it (or create a narrower one) before the move"
            )


def _last_owner(session: Session, member: Member) -> bool:
    others = select(func.count()).select_from(Member)
    others = others.where(Member.role == Role.OWNER.value, Member.status == "active", Member.id != member.id)
    return member.role == Role.OWNER.value and not session.scalar(others)


@refusals_audited("member.update")
def update(
    cp: ControlPlane,
    actor: Actor,
    name: str,
    *,
    team: str | None = None,
    role: str | None = None,
    email: str | None = None,
    display_name: str | None = None,
) -> MemberInfo:
    """Change a member's team, role, email or display name (None: unchanged; ``""`` clears email or display name).

    A move re-checks the member's live keys against the new team's ceiling and refuses (naming the key and
    the fields) rather than narrowing them. Fields already at the asked value are no change; when nothing
    changes nothing is audited. The audit record names the changed fields and only the non-personal new
    values (team id, role), never the email or display name.
    """
    given = {"team": team, "role": role, "email": email, "display_name": display_name}
    asked = {field for field, value in given.items() if value is not None}
    if not asked:
        raise InvalidInput("nothing to change: give a team, role, email or display name")
    new_role = access.parse_role(role) if role is not None else None
    new_email = check_email(email) if email else None
    new_display = check_display_name(display_name) if display_name else None
    with cp.store.session() as session:
        member = find_visible(session, actor, name)
        access.require_update_member(actor, member, asked)
        if member.status in FINAL_STATES:
            raise Conflict(f"member {member.name!r} is {member.status}")
        changed: dict[str, Any] = {}
        current_team = session.get(Team, member.team_id) if member.team_id else None
        if team is not None:
            target = team_for(session, cp, team, actor)
            if target.id != member.team_id:
                require_keys_within(session, member, target)
                member.team_id, current_team = target.id, target
                changed["team"] = target.id
        if new_role is not None and new_role.value != member.role:
            if _last_owner(session, member):
                raise Conflict(f"member {member.name!r} is the last active owner; make another owner first")
            member.role = new_role.value
            changed["role"] = new_role.value
        if email is not None and new_email != member.email:
            member.email = new_email
            changed["email"] = None
        if display_name is not None and new_display != member.display_name:
            member.display_name = new_display
            changed["display_name"] = None
        if changed:
            shown = {k: v for k, v in changed.items() if k in ("team", "role")}
            cp.audit(session, actor, "member.update", member.id, changed=sorted(changed), **shown)
            cp.store.notify_change(session)
        return _info(member, current_team)


@dataclass(frozen=True, slots=True)
class Removal:
    """What removing a member took away."""

    member: MemberInfo
    keys_revoked: int
    admin_tokens_revoked: int
    short_lived_tokens_deleted: int


def revoke_credentials(session: Session, member: Member, now: datetime, reason: str) -> tuple[int, int, int]:
    """End every credential of a member (removal, erasure): live keys revoked with ``reason``, admin tokens
    revoked, short-lived tokens deleted. (keys revoked, admin tokens revoked, short-lived tokens deleted)."""
    keys = list(session.scalars(select(MemberKey).where(MemberKey.member_id == member.id)))
    revoked = 0
    for key in keys:
        if key.revoked_at is None:
            key.revoked_at, key.revoked_reason = now, reason
            revoked += 1
    tokens_revoked = 0
    for token in session.scalars(select(AdminToken).where(AdminToken.member_id == member.id)):
        if token.revoked_at is None:
            token.revoked_at = now
            tokens_revoked += 1
    deleted = 0
    if keys:
        result = session.execute(delete(ShortLivedToken).where(ShortLivedToken.key_id.in_([k.id for k in keys])))
        deleted = int(getattr(result, "rowcount", 0) or 0)
    return revoked, tokens_revoked, deleted


@refusals_audited("member.remove")
def remove(cp: ControlPlane, actor: Actor, name: str) -> Removal:
    """Remove a member: keys revoked (reason ``removed``), admin tokens revoked, short-lived tokens deleted,
    status ``removed`` (refused at the gateway like a suspension). The row stays: usage and audit name it.

    Nobody removes themselves; the last active owner cannot be removed.
    """
    now = cp.clock()
    with cp.store.session() as session:
        member = find_visible(session, actor, name)
        access.require_remove_member(actor, member)
        if member.status in FINAL_STATES:
            raise Conflict(f"member {member.name!r} is already {member.status}")
        if _last_owner(session, member):
            raise Conflict(f"member {member.name!r} is the last active owner and cannot be removed")
        revoked, tokens_revoked, deleted = revoke_credentials(session, member, now, REMOVED)
        member.status = REMOVED
        cp.audit(
            session,
            actor,
            "member.remove",
            member.id,
            keys_revoked=revoked,
            admin_tokens_revoked=tokens_revoked,
            short_lived_tokens_deleted=deleted,
        )
        cp.store.notify_change(session)
        team = session.get(Team, member.team_id) if member.team_id else None
        return Removal(_info(member, team), revoked, tokens_revoked, deleted)
