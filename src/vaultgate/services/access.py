"""Who may act on what, and which rows they may see: the only module that reasons about roles.

- owner: everything, including other admins and owners;
- admin without a team (organisation admin): members (role ``member``) and their keys,
  teams, providers, lockdown, leak reports, the audit log; never other admins or owners;
- admin of a team (team admin): the members of that team (role ``member``), their keys and
  usage, the team's ceiling; nothing of other teams;
- auditor: reads members, keys' metadata, teams, admin tokens, audit, usage; changes nothing;
- member: their own keys, usage and admin tokens only.

Two kinds of answer:

- **yes/no** (``can_*`` predicates, ``require_*`` raising NotAuthorised with a message that
  never depends on whether the target exists);
- **query scopes** (``*_scope``): SQLAlchemy ``where`` clauses a service adds to its query, so
  listings are filtered in the database, and a lookup by id outside the scope finds nothing
  (404, no oracle) while a visible but unmanageable object is a 403.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from vaultgate.services.context import Actor, Role
from vaultgate.services.errors import InvalidInput, NotAuthorised
from vaultgate.store.models import AdminToken, Member, MemberKey, Team, UsageEvent

_RANK = {Role.MEMBER: 0, Role.AUDITOR: 1, Role.ADMIN: 2, Role.OWNER: 3}


def rank(role: Role) -> int:
    """Roles ordered by power, for "at most this role" checks."""
    return _RANK[role]


def effective_role(member_role: str, token_role: str | None) -> Role:
    """The role an admin token acts with: its own, never more than its member's current role."""
    role = Role(member_role)
    if token_role is not None and rank(Role(token_role)) < rank(role):
        return Role(token_role)
    return role


def is_org_manager(actor: Actor) -> bool:
    """Owners, and admins who do not belong to a team."""
    return actor.role is Role.OWNER or (actor.role is Role.ADMIN and actor.team_id is None)


def is_team_admin(actor: Actor) -> bool:
    """An admin who belongs to a team: manages that team only."""
    return actor.role is Role.ADMIN and actor.team_id is not None


def object_viewer_team(member_role: str, team_id: str | None) -> str | None:
    """The team whose members' stored upstream objects (files, batches, responses...) a key holder sees
    through the gateway besides their own: a team admin sees their team's (docs/ACCESS.md, "Object
    ownership"); everyone else, owners and organisation admins included, only their own (None)."""
    if Role(member_role) is Role.ADMIN and team_id is not None:
        return team_id
    return None


def _sees_everyone(actor: Actor) -> bool:
    return actor.role in (Role.OWNER, Role.AUDITOR) or is_org_manager(actor)


# ---- query scopes -------------------------------------------------------------------------


def member_scope(actor: Actor) -> ColumnElement[bool]:
    """Members the actor may see: everyone; a team admin their team and themselves; a member themselves."""
    if _sees_everyone(actor):
        return true()
    own = Member.id == actor.member_id if actor.member_id is not None else false()
    if is_team_admin(actor):
        return or_(Member.team_id == actor.team_id, own)
    return own


def key_scope(actor: Actor) -> ColumnElement[bool]:
    """Keys whose member is in :func:`member_scope` (a clause on MemberKey alone, no join needed)."""
    if _sees_everyone(actor):
        return true()
    return MemberKey.member_id.in_(select(Member.id).where(member_scope(actor)))


def usage_scope(actor: Actor) -> ColumnElement[bool]:
    """Usage rows the actor may read: all; a team admin's team's and their own; a member's own.

    A row belongs to the team on the record (the member's team when the request was served);
    rows written before records carried a team belong to the member's current team. Rows without
    a member: the org-wide readers only.
    """
    if _sees_everyone(actor):
        return true()
    own = UsageEvent.member_id == actor.member_id if actor.member_id is not None else false()
    if is_team_admin(actor):
        members_now = select(Member.id).where(Member.team_id == actor.team_id)
        untagged = and_(UsageEvent.team_id.is_(None), UsageEvent.member_id.in_(members_now))
        return or_(UsageEvent.team_id == actor.team_id, untagged, own)
    return own


def team_scope(actor: Actor) -> ColumnElement[bool]:
    """Teams the actor may see: all, or the one they belong to."""
    if _sees_everyone(actor):
        return true()
    return Team.id == actor.team_id if actor.team_id is not None else false()


def admin_token_scope(actor: Actor) -> ColumnElement[bool]:
    """Admin tokens the actor may see: all for owners and auditors, one's own otherwise."""
    if actor.role in (Role.OWNER, Role.AUDITOR):
        return true()
    return AdminToken.member_id == actor.member_id if actor.member_id is not None else false()


# ---- yes/no -------------------------------------------------------------------------------


def can_view(actor: Actor, member: Member) -> bool:
    """Whether ``member`` is in the actor's :func:`member_scope` (the same rule, for a loaded row)."""
    if _sees_everyone(actor):
        return True
    if actor.member_id is not None and actor.member_id == member.id:
        return True
    return is_team_admin(actor) and member.team_id == actor.team_id


def can_manage(actor: Actor, member: Member) -> bool:
    """Whether the actor may change this member's keys (members: their own; admins: plain members in reach)."""
    if actor.role is Role.OWNER:
        return True
    if actor.member_id is not None and actor.member_id == member.id:
        return actor.role in (Role.ADMIN, Role.MEMBER)
    if actor.role is Role.ADMIN:
        if member.role != Role.MEMBER.value:
            return False
        return actor.team_id is None or member.team_id == actor.team_id
    return False


def require_manage_keys(actor: Actor, member: Member, what: str) -> None:
    """NotAuthorised unless the actor may ``what`` (create, revoke, rotate) this member's keys."""
    if not can_manage(actor, member):
        raise NotAuthorised(f"the {actor.role.value} role may not {what} the keys of {member.name!r}")


def require_change_member(actor: Actor, member: Member, what: str) -> None:
    """NotAuthorised unless the actor may change this member's access or limits (never their own)."""
    if not can_manage(actor, member) or member.id == actor.member_id:
        raise NotAuthorised(f"the {actor.role.value} role may not {what}")


# What a member may change about themselves (the console's profile page); everything else is an admin's.
SELF_SERVICE_FIELDS = frozenset({"email", "display_name"})


def require_update_member(actor: Actor, member: Member, fields: set[str]) -> None:
    """NotAuthorised unless the actor may change these ``fields`` of ``member``: their own email and display
    name, anyone's within :func:`can_manage` (never their own team or role); a team move needs an organisation
    manager, a role change an owner."""
    if member.id == actor.member_id:
        if fields - SELF_SERVICE_FIELDS:
            raise NotAuthorised("nobody changes their own team or role; ask an owner or an organisation admin")
        return
    require_change_member(actor, member, f"change member {member.name!r}")
    if "team" in fields and not is_org_manager(actor):
        raise NotAuthorised("only an owner or an organisation admin may move a member to another team")
    if "role" in fields and actor.role is not Role.OWNER:
        raise NotAuthorised("only an owner may change a member's role")


def require_remove_member(actor: Actor, member: Member) -> None:
    """NotAuthorised unless the actor may remove ``member`` (as :func:`require_change_member`; never oneself)."""
    if member.id == actor.member_id:
        raise NotAuthorised("nobody removes themselves; ask another owner or admin")
    require_change_member(actor, member, f"remove member {member.name!r}")


def require_manager(actor: Actor, what: str) -> None:
    """NotAuthorised unless the actor is an owner or an admin (of the org or of a team)."""
    if actor.role not in (Role.OWNER, Role.ADMIN):
        raise NotAuthorised(f"the {actor.role.value} role may not {what}")


def require_org_manager(actor: Actor, what: str) -> None:
    """NotAuthorised unless the actor manages the whole organisation."""
    if not is_org_manager(actor):
        raise NotAuthorised(f"only an owner or an organisation admin may {what}")


def parse_role(text: str) -> Role:
    """A role named in a request; InvalidInput naming the accepted values otherwise."""
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def require_add_member(actor: Actor, role: Role, team_id: str | None, *, new_team: bool = False) -> None:
    """NotAuthorised unless the actor may add a member with ``role`` to team ``team_id`` (None: no team).

    ``new_team``: the named team does not exist yet and would be created (organisation managers only).
    """
    require_manager(actor, "add members")
    if role is not Role.MEMBER and actor.role is not Role.OWNER:
        raise NotAuthorised(f"only an owner may create a member with the {role.value} role")
    if is_team_admin(actor) and (new_team or team_id != actor.team_id):
        raise NotAuthorised("a team admin may add members to their own team only")


def default_team_id(actor: Actor) -> str | None:
    """The team a new member joins when none is named: a team admin's own team."""
    return actor.team_id if is_team_admin(actor) else None


def require_team_manager(actor: Actor, team: Team) -> None:
    """NotAuthorised unless the actor may set this team's ceiling and key-age rules."""
    if is_org_manager(actor) or (is_team_admin(actor) and actor.team_id == team.id):
        return
    raise NotAuthorised(f"the {actor.role.value} role may not change team {team.name}")


def require_issue_admin_token(actor: Actor, member_name: str) -> None:
    """NotAuthorised unless the actor may issue a token for ``member_name`` (oneself; owners: anyone).

    Decided on the name before any lookup, so the answer says nothing about who exists.
    """
    if actor.role is Role.OWNER or member_name in (actor.name, actor.member_id):
        return
    raise NotAuthorised("only an owner may issue admin tokens for someone else")


def admin_token_role(actor: Actor, member: Member, requested: str | None) -> Role:
    """The role a new admin token carries: the requested one, at most the member's and the issuer's."""
    member_role = Role(member.role)
    token_role = parse_role(requested) if requested else member_role
    if rank(token_role) > rank(member_role) or rank(token_role) > rank(actor.role):
        raise NotAuthorised(f"a token for {member.name!r} cannot carry the {token_role.value} role")
    return token_role


def require_revoke_admin_token(actor: Actor, token: AdminToken) -> None:
    """NotAuthorised unless the token is the actor's own or the actor is an owner."""
    if actor.role is Role.OWNER or token.member_id == actor.member_id:
        return
    raise NotAuthorised(f"the {actor.role.value} role may revoke only its own admin tokens")


def may_read_audit(actor: Actor) -> bool:
    """Owners, organisation admins and auditors read the whole audit log (a team admin does not)."""
    return actor.role in (Role.OWNER, Role.AUDITOR) or is_org_manager(actor)


def require_audit_reader(actor: Actor) -> None:
    """NotAuthorised unless :func:`may_read_audit`."""
    if not may_read_audit(actor):
        raise NotAuthorised(f"the {actor.role.value} role may not read the audit log")


def require_org_overview(actor: Actor, what: str) -> None:
    """NotAuthorised unless the actor reads organisation-wide state about people (owners, organisation admins,
    auditors; a team admin sees their team only)."""
    if not may_read_audit(actor):
        raise NotAuthorised(f"only an owner, an organisation admin or an auditor may {what}")


def require_policy_reader(actor: Actor) -> None:
    """NotAuthorised unless the actor may read the organisation's policy (owners, admins, auditors)."""
    if actor.role not in (Role.OWNER, Role.ADMIN, Role.AUDITOR):
        raise NotAuthorised(f"the {actor.role.value} role may not read the organisation policy")


def require_org_reader(actor: Actor, what: str) -> None:
    """NotAuthorised unless the actor may read organisation-wide state (owners, admins, auditors)."""
    if actor.role not in (Role.OWNER, Role.ADMIN, Role.AUDITOR):
        raise NotAuthorised(f"the {actor.role.value} role may not {what}")


def can_exceed_ceiling(actor: Actor) -> bool:
    """Whether the actor may give a key more than its team's and organisation's ceiling (it could raise them)."""
    return is_org_manager(actor)
