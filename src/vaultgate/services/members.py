"""Members and teams: add, list, look up."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
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


def _team(session: Session, cp: ControlPlane, name: str, actor: Actor) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(id=new_id("team"), name=check_name("team", name), suspended=False, created_at=cp.clock())
        session.add(team)
        session.flush()
        cp.audit(session, actor, "team.create", name)
    return team


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
    actor.require_manager("add members")
    check_name("member", name)
    try:
        parsed_role = Role.parse(role)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if parsed_role is Role.OWNER and actor.role is not Role.OWNER:
        raise InvalidInput("only an owner may create another owner")
    if email is not None and not _EMAIL.match(email):
        raise InvalidInput(f"invalid email address {email!r}")
    with cp.store.session() as session:
        if session.scalar(select(Member.id).where(Member.name == name)) is not None:
            raise Conflict(f"a member named {name!r} already exists")
        team_row = _team(session, cp, team, actor) if team else None
        member = Member(
            id=new_id("mem"),
            name=name,
            email=email,
            team_id=team_row.id if team_row else None,
            role=parsed_role.value,
            status="active",
            created_at=cp.clock(),
        )
        session.add(member)
        session.flush()
        cp.audit(session, actor, "member.create", name, role=parsed_role.value, team=team)
        return _info(member, team_row)


def list_members(cp: ControlPlane, actor: Actor) -> list[MemberInfo]:
    """Every member (managers and auditors) or just oneself (members)."""
    with cp.store.session() as session:
        query = select(Member, Team).outerjoin(Team, Member.team_id == Team.id).order_by(Member.name)
        if actor.role is Role.MEMBER:
            query = query.where(Member.id == actor.member_id)
        return [_info(m, t) for m, t in session.execute(query).all()]
