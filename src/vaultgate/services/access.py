"""Who may act on what: roles and ownership, one function per question.

- owner: everything, including other admins and owners;
- admin: members (role ``member``), their keys, providers and policies of the org — or,
  for an admin who belongs to a team, of that team only; never other admins or owners;
- auditor: reads everything (members, keys' metadata, audit, usage), changes nothing;
- member: their own keys only.
"""

from __future__ import annotations

from vaultgate.services.context import Actor, Role
from vaultgate.services.errors import NotAuthorised
from vaultgate.store.models import Member

_RANK = {Role.MEMBER: 0, Role.AUDITOR: 1, Role.ADMIN: 2, Role.OWNER: 3}


def rank(role: Role) -> int:
    """Roles ordered by power, for "at most this role" checks."""
    return _RANK[role]


def is_org_manager(actor: Actor) -> bool:
    """Owners, and admins who do not belong to a team."""
    return actor.role is Role.OWNER or (actor.role is Role.ADMIN and actor.team_id is None)


def can_manage(actor: Actor, member: Member) -> bool:
    """Whether the actor may change this member or the member's keys."""
    if actor.role is Role.OWNER:
        return True
    if actor.member_id is not None and actor.member_id == member.id:
        return actor.role in (Role.ADMIN, Role.MEMBER)
    if actor.role is Role.ADMIN:
        if member.role in (Role.OWNER.value, Role.ADMIN.value):
            return False
        return actor.team_id is None or member.team_id == actor.team_id
    return False


def can_view(actor: Actor, member: Member) -> bool:
    """Whether the actor may see this member and the metadata of the member's keys."""
    if actor.role in (Role.OWNER, Role.AUDITOR):
        return True
    if actor.member_id is not None and actor.member_id == member.id:
        return True
    return actor.role is Role.ADMIN and (actor.team_id is None or member.team_id == actor.team_id)


def require_manager(actor: Actor, what: str) -> None:
    """NotAuthorised unless the actor is an owner or an admin (of the org or of a team)."""
    if actor.role not in (Role.OWNER, Role.ADMIN):
        raise NotAuthorised(f"the {actor.role.value} role may not {what}")


def require_org_manager(actor: Actor, what: str) -> None:
    """NotAuthorised unless the actor manages the whole organisation."""
    if not is_org_manager(actor):
        raise NotAuthorised(f"only an owner or an organisation admin may {what}")


def require_reader(actor: Actor, what: str) -> None:
    """NotAuthorised unless the actor may read organisation-wide records (audit, posture)."""
    if actor.role not in (Role.OWNER, Role.ADMIN, Role.AUDITOR):
        raise NotAuthorised(f"the {actor.role.value} role may not {what}")


def can_exceed_ceiling(actor: Actor) -> bool:
    """Whether the actor may give a key more than its team's and organisation's ceiling (it could raise them)."""
    return is_org_manager(actor)
