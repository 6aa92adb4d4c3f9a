"""Members and teams: add, list, look up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.services.limit_input import parse_limits
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import Member, Team

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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
    )


def find(session: Session, name: str) -> Member:
    """The member called ``name`` (or with that id); NotFound otherwise."""
    member = session.scalar(select(Member).where((Member.name == name) | (Member.id == name)))
    if member is None:
        raise NotFound(f"no member named {name!r}")
    return member


def team_for(session: Session, cp: ControlPlane, name: str, actor: Actor) -> Team:
    """The team called ``name``, created on first use by an organisation manager."""
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
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
        cp.audit(session, actor, "team.create", name)
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
) -> MemberInfo:
    """Create a member (and its team on first use); Conflict if the name is taken."""
    access.require_manager(actor, "add members")
    check_name("member", name)
    parsed_role = access.parse_role(role)
    if email is not None and not _EMAIL.match(email):
        raise InvalidInput(f"invalid email address {email!r}")
    with cp.store.session() as session:
        named = session.scalar(select(Team).where(Team.name == team)) if team is not None else None
        new_team = team is not None and named is None  # created below, by an organisation manager only
        team_id = access.default_team_id(actor) if team is None else (named.id if named else None)
        access.require_add_member(actor, parsed_role, team_id, new_team=new_team)
        if session.scalar(select(Member.id).where(Member.name == name)) is not None:
            raise Conflict(f"a member named {name!r} already exists")
        if team is not None:
            team_row: Team | None = team_for(session, cp, team, actor)
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
        access.require_change_member(actor, member, f"change {member.name}'s access")
        if member.status == "erased":  # services/subject_rights.py: an erasure is final
            raise Conflict(f"member {member.name} is erased")
        if member.status == status:
            raise Conflict(f"member {member.name} is already {status}")
        member.status = status
        cp.audit(session, actor, "member.suspend" if status == "suspended" else "member.resume", member.id)
        cp.store.notify_change(session)
        team = session.get(Team, member.team_id) if member.team_id else None
        return _info(member, team)


@refusals_audited("member.suspend")
def suspend(cp: ControlPlane, actor: Actor, name: str) -> MemberInfo:
    """Kill switch for one member: every key refused with 403 on every replica within a second."""
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
        access.require_change_member(actor, member, f"set {member.name}'s limits")
        member.limits = parsed
        cp.audit(session, actor, "member.limits", member.id, limits=parsed)
        cp.store.notify_change(session)
    return parsed
