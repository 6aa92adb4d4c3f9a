"""Teams: the ceiling policy every key of the team is held under, max key age, suspension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.policy.effective import wider_fields
from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput, NotFound, PolicyExceedsCeiling
from vaultgate.services.limit_input import parse_limits
from vaultgate.services.members import FINAL_STATES, check_name, team_for
from vaultgate.services.refusals import refusals_audited
from vaultgate.services.rotation import max_age_days
from vaultgate.store.models import Member, Team


@dataclass(frozen=True, slots=True)
class TeamInfo:
    """A team as shown to admins."""

    id: str
    name: str
    suspended: bool
    policy: dict[str, Any]
    max_key_age_days: int
    expire_overdue_keys: bool
    created_at: datetime


def _info(team: Team) -> TeamInfo:
    return TeamInfo(
        team.id, team.name, team.suspended, team.policy, max_age_days(team), team.expire_overdue_keys, team.created_at
    )


def _find(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team


def _find_visible(session: Session, actor: Actor, name: str) -> Team:
    """The team within the actor's scope; NotFound otherwise (no oracle)."""
    team = session.scalar(select(Team).where(Team.name == name).where(access.team_scope(actor)))
    if team is None:
        raise NotFound(f"no team named {name!r}")
    return team


@refusals_audited("team.create")
def create(cp: ControlPlane, actor: Actor, name: str) -> TeamInfo:
    """Create a team; Conflict if it exists."""
    access.require_org_manager(actor, "create teams")
    with cp.store.session() as session:
        if session.scalar(select(Team.id).where(Team.name == name)) is not None:
            raise Conflict(f"a team named {name!r} already exists")
        return _info(team_for(session, cp, name, actor, create=True))


def list_teams(cp: ControlPlane, actor: Actor) -> list[TeamInfo]:
    """Teams the actor may see (team admins and members: their own)."""
    with cp.store.session() as session:
        teams = session.scalars(select(Team).where(access.team_scope(actor)).order_by(Team.name)).all()
        return [_info(t) for t in teams]


@refusals_audited("team.policy")
def set_policy(
    cp: ControlPlane,
    actor: Actor,
    name: str,
    *,
    policy: dict[str, Any] | None = None,
    max_key_age_days: int | None = None,
    expire_overdue_keys: bool | None = None,
) -> TeamInfo:
    """Set the team's ceiling (models, scopes, IPs, store, privacy) and key-age rules; keys can only narrow it.

    A team admin may only narrow the team's current policy (PolicyExceedsCeiling otherwise):
    widening it would widen every key of the team, which only an organisation admin may.
    """
    if max_key_age_days is not None and not 1 <= max_key_age_days <= 3650:
        raise InvalidInput("max key age must be between 1 and 3650 days")
    parsed = None
    if policy is not None:
        try:
            parsed = KeyPolicy.from_json(policy)
        except PolicyError as exc:
            raise InvalidInput(str(exc)) from None
    with cp.store.session() as session:
        team = _find_visible(session, actor, name)
        access.require_team_manager(actor, team)
        if parsed is not None and team.policy and not access.can_exceed_ceiling(actor):
            _require_narrower(parsed, team)
        if parsed is not None:
            team.policy = parsed.to_json()
        if max_key_age_days is not None:
            team.max_key_age_days = max_key_age_days
        if expire_overdue_keys is not None:
            team.expire_overdue_keys = expire_overdue_keys
        cp.audit(
            session,
            actor,
            "team.policy",
            team.name,
            policy=team.policy,
            max_key_age_days=team.max_key_age_days,
            expire_overdue_keys=team.expire_overdue_keys,
        )
        cp.store.notify_change(session)
        return _info(team)


def _require_narrower(parsed: KeyPolicy, team: Team) -> None:
    try:
        current = KeyPolicy.from_json(team.policy)
    except PolicyError:
        return  # an unreadable policy refuses every key of the team: replacing it is a repair
    wider = wider_fields(parsed, current, inherit=False)
    if wider:
        raise PolicyExceedsCeiling(
            f"a team admin may only narrow team {team.name}'s policy; the new one is wider in: {', '.join(wider)}"
        )


def _set_suspended(cp: ControlPlane, actor: Actor, name: str, suspended: bool) -> TeamInfo:
    access.require_org_manager(actor, "suspend or resume teams")
    with cp.store.session() as session:
        team = _find(session, name)
        if team.suspended == suspended:
            return _info(team)  # already so: nothing changes, nothing is audited (docs/ACCESS.md)
        team.suspended = suspended
        cp.audit(session, actor, "team.suspend" if suspended else "team.resume", team.name)
        cp.store.notify_change(session)
        return _info(team)


@refusals_audited("team.suspend")
def suspend(cp: ControlPlane, actor: Actor, name: str) -> TeamInfo:
    """Kill switch for a team: every member's keys refused with 403 within a second (idempotent)."""
    return _set_suspended(cp, actor, name, True)


@refusals_audited("team.resume")
def resume(cp: ControlPlane, actor: Actor, name: str) -> TeamInfo:
    """Lift a team's suspension."""
    return _set_suspended(cp, actor, name, False)


@refusals_audited("team.limits")
def set_limits(cp: ControlPlane, actor: Actor, name: str, limits: dict[str, Any]) -> dict[str, Any]:
    """Rate limits and budget shared by every key of the team's members (empty: none)."""
    parsed = parse_limits(cp, limits).to_json()
    access.require_org_manager(actor, "set team limits")
    with cp.store.session() as session:
        team = _find(session, name)
        team.limits = parsed
        cp.audit(session, actor, "team.limits", team.name, limits=parsed)
        cp.store.notify_change(session)
    return parsed


@refusals_audited("team.rename")
def rename(cp: ControlPlane, actor: Actor, name: str, new_name: str) -> TeamInfo:
    """Rename a team (organisation managers); its id, members, keys, ceiling and usage stay. Conflict if taken."""
    access.require_org_manager(actor, "rename teams")
    check_name("team", new_name)
    with cp.store.session() as session:
        team = _find(session, name)
        if team.name == new_name:
            return _info(team)
        if session.scalar(select(Team.id).where(Team.name == new_name)) is not None:
            raise Conflict(f"a team named {new_name!r} already exists")
        previous, team.name = team.name, new_name
        cp.audit(session, actor, "team.rename", team.id, name=new_name, previous=previous)
        cp.store.notify_change(session)
        return _info(team)


@refusals_audited("team.delete")
def delete(cp: ControlPlane, actor: Actor, name: str) -> TeamInfo:
    """Delete a team with no members (organisation managers); Conflict, with the count, while it has any.

    Removed and erased members do not count: they are detached (no team); their usage records keep the
    team's id, so spend per team survives the deletion."""
    access.require_org_manager(actor, "delete teams")
    with cp.store.session() as session:
        team = _find(session, name)
        in_team = select(Member).where(Member.team_id == team.id)
        current = [m for m in session.scalars(in_team) if m.status not in FINAL_STATES]
        if current:
            count = len(current)
            raise Conflict(
                f"team {team.name!r} still has {count} member{'s' if count != 1 else ''}; move "
                f"{'them' if count != 1 else 'it'} to another team first (vaultgate member update NAME --team OTHER)"
            )
        for former in session.scalars(in_team):
            former.team_id = None
        session.flush()
        shown = _info(team)
        session.delete(team)
        cp.audit(session, actor, "team.delete", team.id, name=team.name)
        cp.store.notify_change(session)
        return shown
