"""Identity: what an identity provider's word does to a member, decided in one place.

SCIM provisioning, OIDC sign-in and ``vaultgate identity sync`` all go through here:

- **group mappings**: an identity-provider group name and the team and role its members get
  (:func:`set_mapping`, :func:`list_mappings`, :func:`remove_mapping`), and which placement a set of
  groups gives (:func:`resolve`);
- **deprovisioning**: a person the provider deactivates or deletes is suspended and every credential
  ended in the same transaction (:func:`deprovision`); the change is notified, so every replica drops
  the keys and ends their running streams on its next refresh (PostgreSQL NOTIFY: at once);
- **reprovisioning**: a reactivated person is active again (:func:`reprovision`); their revoked keys
  stay revoked (a leaver who returns gets new keys, never their old ones back);
- **placement**: a team and role from the mappings applied to a member (:func:`place`).

Mappings give ``admin``, ``auditor`` or ``member``, never ``owner``: owners are made by hand, so a
stolen SCIM token or a misconfigured group cannot mint one (docs/IDENTITY.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.services.errors import InvalidInput, NotFound
from vaultgate.services.members import FINAL_STATES, require_keys_within, revoke_credentials
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import IdentityGroupMapping, Member, Team

# Who the audit trail names for changes the identity provider asked for (SCIM calls, sign-in placement).
PROVIDER = Actor(name="identity-provider", role=Role.ADMIN)
DEPROVISIONED = "deprovisioned"  # the revoked_reason of keys ended by a deprovisioning
MAPPABLE_ROLES = (Role.ADMIN, Role.AUDITOR, Role.MEMBER)
_GROUP_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class Placement:
    """The team (None: leave it) and role a member gets from their groups."""

    team_id: str | None
    role: Role


@dataclass(frozen=True, slots=True)
class Mapping:
    """A group mapping as the CLI, the admin API and the console show it."""

    group: str
    team: str | None
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Ended:
    """What a deprovisioning ended: live keys revoked, admin tokens revoked, short-lived tokens deleted."""

    keys: int
    admin_tokens: int
    short_lived: int
    changed: bool


def check_group_name(name: str) -> str:
    """A group name as mappings hold it (stripped, 1-200 characters, no control characters)."""
    text = (name or "").strip()
    if not text or len(text) > _GROUP_NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInput(f"invalid group name: use 1-{_GROUP_NAME_MAX} printable characters")
    return text


def _mappable_role(text: str) -> Role:
    role = access.parse_role(text)
    if role not in MAPPABLE_ROLES:
        raise InvalidInput("a group mapping gives admin, auditor or member; owners are made by hand")
    return role


def resolve(session: Session, groups: Iterable[str]) -> Placement | None:
    """The placement ``groups`` give, or None when no mapping names any of them.

    The highest role among the matching mappings wins (ties: the group name that sorts first); the team
    is that mapping's, or else the team of the highest-ranked matching mapping that names one.
    """
    names = {g.strip() for g in groups if isinstance(g, str) and g.strip()}
    if not names:
        return None
    found = list(session.scalars(select(IdentityGroupMapping).where(IdentityGroupMapping.group_name.in_(names))))
    if not found:
        return None
    found.sort(key=lambda m: (-access.rank(Role(m.role)), m.group_name))
    best = found[0]
    team_id = best.team_id or next((m.team_id for m in found if m.team_id), None)
    return Placement(team_id, Role(best.role))


@refusals_audited("identity.map")
def set_mapping(cp: ControlPlane, actor: Actor, group: str, team: str | None, role: str) -> Mapping:
    """Map ``group`` to ``team`` (None: role only) and ``role``; replaces the group's mapping if any."""
    access.require_org_manager(actor, "map identity-provider groups")
    name, parsed = check_group_name(group), _mappable_role(role)
    with cp.store.session() as session:
        team_row = None
        if team is not None:
            team_row = session.scalar(select(Team).where(Team.name == team))
            if team_row is None:
                raise NotFound(f"no team named {team!r}")
        mapping = session.get(IdentityGroupMapping, name)
        if mapping is None:
            mapping = IdentityGroupMapping(group_name=name, created_at=cp.clock(), role=parsed.value)
            session.add(mapping)
        mapping.team_id, mapping.role = (team_row.id if team_row else None), parsed.value
        cp.audit(session, actor, "identity.map", name, team=team_row.id if team_row else None, role=parsed.value)
        return Mapping(name, team_row.name if team_row else None, parsed.value, mapping.created_at)


def list_mappings(cp: ControlPlane, actor: Actor) -> list[Mapping]:
    """Every group mapping, by group name (org managers and auditors)."""
    access.require_org_reader(actor, "read the identity group mappings")
    with cp.store.session() as session:
        rows = session.execute(
            select(IdentityGroupMapping, Team)
            .outerjoin(Team, IdentityGroupMapping.team_id == Team.id)
            .order_by(IdentityGroupMapping.group_name)
        ).all()
        return [Mapping(m.group_name, t.name if t else None, m.role, m.created_at) for m, t in rows]


@refusals_audited("identity.unmap")
def remove_mapping(cp: ControlPlane, actor: Actor, group: str) -> None:
    """Remove ``group``'s mapping (members keep their team and role until the provider's next word)."""
    access.require_org_manager(actor, "map identity-provider groups")
    name = check_group_name(group)
    with cp.store.session() as session:
        mapping = session.get(IdentityGroupMapping, name)
        if mapping is None:
            raise NotFound(f"no mapping for group {name!r}")
        session.delete(mapping)
        cp.audit(session, actor, "identity.unmap", name)


def deprovision(session: Session, cp: ControlPlane, actor: Actor, member: Member, *, requested_at: datetime) -> Ended:
    """Suspend ``member`` and end every credential of theirs, in ``session``'s transaction, audited.

    ``requested_at`` is when the provider's call arrived (the audit record carries it, so the time to
    effective revocation can be read off the trail). Idempotent: a member already suspended with no live
    credential, or removed or erased, changes nothing and is not audited again.
    """
    if member.status in FINAL_STATES:
        return Ended(0, 0, 0, changed=False)
    keys, admin_tokens, short_lived = revoke_credentials(session, member, cp.clock(), DEPROVISIONED)
    changed = member.status != "suspended" or bool(keys or admin_tokens or short_lived)
    if not changed:
        return Ended(0, 0, 0, changed=False)
    member.status = "suspended"
    cp.audit(
        session,
        actor,
        "identity.deprovision",
        member.id,
        keys_revoked=keys,
        admin_tokens_revoked=admin_tokens,
        short_lived_deleted=short_lived,
        requested_at=requested_at.isoformat(),
    )
    cp.store.notify_change(session)
    return Ended(keys, admin_tokens, short_lived, changed=True)


def reprovision(session: Session, cp: ControlPlane, actor: Actor, member: Member) -> bool:
    """Make a suspended ``member`` active again (their revoked keys stay revoked); whether it changed."""
    if member.status != "suspended":
        return False
    member.status = "active"
    cp.audit(session, actor, "identity.reprovision", member.id)
    cp.store.notify_change(session)
    return True


def place(session: Session, cp: ControlPlane, actor: Actor, member: Member, placement: Placement) -> bool:
    """Give ``member`` the placement's team (when it names one) and role; whether anything changed.

    Owners keep their role (mappings never make or unmake an owner). A move to a team whose ceiling a live
    key of theirs exceeds is refused (PolicyExceedsCeiling), as for a move by hand.
    """
    changes: dict[str, str] = {}
    if placement.team_id is not None and placement.team_id != member.team_id:
        team = session.get(Team, placement.team_id)
        if team is None:
            raise NotFound("the mapped team no longer exists")
        require_keys_within(session, member, team)
        member.team_id = changes["team"] = team.id
    if member.role != Role.OWNER.value and member.role != placement.role.value:
        member.role = changes["role"] = placement.role.value
    if not changes:
        return False
    cp.audit(session, actor, "identity.place", member.id, **changes)
    cp.store.notify_change(session)
    return True
