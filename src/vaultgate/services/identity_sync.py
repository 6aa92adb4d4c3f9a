"""Reconciliation: the identity provider's view (the last SCIM state) against vaultgate's, and applying it.

For every member SCIM manages (``identity_users.scim_managed``), the provider's word is its last SCIM
state: whether the person is active, and the team and role their groups map to
(:func:`services.identity.resolve`). A member differs when

- the provider says inactive but the member is active (``deactivated_but_active``), or is suspended
  but still holds a live key or admin token (``deactivated_with_credentials``): applied as a
  deprovisioning (:func:`services.identity.deprovision`);
- the provider says active but the member is suspended (``active_but_suspended``) or removed
  (``active_but_removed``): reported only, never applied. A suspension by an admin stands, and a
  removal is final; an admin resumes by hand (``vaultgate member resume``) if it was a mistake;
- the member's team or role is not the one their groups map to (``team``, ``role``): applied as a
  placement (:func:`services.identity.place`). Owners keep their role (mappings never make or unmake
  one), and people the provider says are inactive are not placed.

Members SCIM does not manage (no identity record, or one that is not ``scim_managed``) are listed
apart, with their status and role: they are not differences (a local owner is the break-glass path),
and reconciliation never touches them. Removed and erased members are left out of that list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from vaultgate.services import access, identity
from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.services.errors import ServiceError
from vaultgate.services.members import FINAL_STATES
from vaultgate.store.models import (
    AdminToken,
    IdentityGroup,
    IdentityGroupMember,
    IdentityUser,
    Member,
    MemberKey,
    Team,
)

DEPROVISION = "deprovision"
PLACE = "place"
HOLD = "none"  # reported only: never applied

DEACTIVATED_BUT_ACTIVE = "deactivated_but_active"
DEACTIVATED_WITH_CREDENTIALS = "deactivated_with_credentials"
ACTIVE_BUT_SUSPENDED = "active_but_suspended"
ACTIVE_BUT_REMOVED = "active_but_removed"
TEAM = "team"
ROLE = "role"


@dataclass(frozen=True, slots=True)
class Difference:
    """One way a SCIM-managed member differs from the provider's view, and what applying does about it."""

    member_id: str
    member: str
    kind: str
    provider: str  # the provider's view ("inactive", "team platform", "role admin")
    vaultgate: str  # vaultgate's ("active", "suspended, 2 live keys and 1 admin token", "team —")
    action: str  # deprovision | place | none
    note: str = ""


@dataclass(frozen=True, slots=True)
class Unmanaged:
    """A member SCIM does not manage: reconciliation never touches them."""

    member_id: str
    member: str
    team: str | None
    role: str
    status: str
    reason: str  # "no identity record" | "identity record not managed by SCIM"


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a dry run finds: the differences (by member name), the members SCIM does not manage."""

    differences: tuple[Difference, ...]
    unmanaged: tuple[Unmanaged, ...]
    managed: int

    @property
    def actionable(self) -> tuple[Difference, ...]:
        """The differences applying would act on (the others are reported only)."""
        return tuple(d for d in self.differences if d.action != HOLD)

    @property
    def in_sync(self) -> bool:
        """Whether applying would change nothing."""
        return not self.actionable

    @property
    def scim_in_use(self) -> bool:
        """Whether SCIM manages anyone."""
        return self.managed > 0

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON document (``identity sync --dry-run --json``, ``GET /admin/identity/sync``)."""
        return {
            "in_sync": self.in_sync,
            "scim_in_use": self.scim_in_use,
            "managed": self.managed,
            "differences": [asdict(d) for d in self.differences],
            "unmanaged": [asdict(u) for u in self.unmanaged],
        }


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying did to one member: ``done`` (the changes listed), ``unchanged`` or ``refused`` (why)."""

    member_id: str
    member: str
    action: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SyncResult:
    """The report before applying, and what was applied."""

    report: SyncReport
    applied: tuple[Applied, ...]

    @property
    def refused(self) -> tuple[Applied, ...]:
        """The members a change was refused for (a move their keys exceed, a mapped team gone)."""
        return tuple(a for a in self.applied if a.outcome == "refused")


@dataclass(frozen=True, slots=True)
class Management:
    """Which visible members SCIM manages, and whether SCIM manages anyone at all (the console's badges)."""

    scim_in_use: bool
    managed: frozenset[str]


def scim_in_use(session: Session) -> bool:
    """Whether any member is managed by SCIM."""
    return session.scalar(select(IdentityUser.id).where(IdentityUser.scim_managed.is_(True)).limit(1)) is not None


def management(cp: ControlPlane, actor: Actor) -> Management:
    """The ids of the members in the actor's scope whom SCIM manages, and whether SCIM is in use."""
    with cp.store.session() as session:
        managed = session.scalars(
            select(IdentityUser.member_id)
            .join(Member, Member.id == IdentityUser.member_id)
            .where(IdentityUser.scim_managed.is_(True), access.member_scope(actor))
        )
        ids = frozenset(managed)
        return Management(bool(ids) or scim_in_use(session), ids)


def _credentials(session: Session, member_ids: Iterable[str], now: datetime) -> dict[str, tuple[int, int]]:
    """Live (not revoked, not expired) keys and admin tokens per member id."""
    ids = list(member_ids)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    if not ids:
        return {}
    keys = select(MemberKey.member_id).where(
        MemberKey.member_id.in_(ids),
        MemberKey.revoked_at.is_(None),
        or_(MemberKey.expires_at.is_(None), MemberKey.expires_at > now),
    )
    for member_id in session.scalars(keys):
        counts[member_id][0] += 1
    tokens = select(AdminToken.member_id).where(
        AdminToken.member_id.in_(ids),
        AdminToken.revoked_at.is_(None),
        or_(AdminToken.expires_at.is_(None), AdminToken.expires_at > now),
    )
    for member_id in session.scalars(tokens):
        counts[member_id][1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def _groups(session: Session, user_ids: Iterable[str]) -> dict[str, list[str]]:
    """The group names (displayName and externalId) each SCIM user is in, as mappings name groups."""
    ids = list(user_ids)
    names: dict[str, list[str]] = defaultdict(list)
    if not ids:
        return names
    rows = session.execute(
        select(IdentityGroupMember.user_id, IdentityGroup.display_name, IdentityGroup.external_id)
        .join(IdentityGroup, IdentityGroup.id == IdentityGroupMember.group_id)
        .where(IdentityGroupMember.user_id.in_(ids))
    )
    for user_id, display_name, external_id in rows:
        names[user_id] += [n for n in (display_name, external_id) if n]
    return names


def _held_credentials(keys: int, tokens: int) -> str:
    parts = []
    if keys:
        parts.append(f"{keys} live key{'s' if keys != 1 else ''}")
    if tokens:
        parts.append(f"{tokens} admin token{'s' if tokens != 1 else ''}")
    return " and ".join(parts)


def _compare(
    session: Session,
    member: Member,
    user: IdentityUser,
    groups: list[str],
    held: tuple[int, int],
    team_names: dict[str, str],
) -> list[Difference]:
    """The differences of one SCIM-managed member (pure but for resolving the groups' placement)."""
    found: list[Difference] = []

    def differs(kind: str, provider: str, ours: str, action: str, note: str = "") -> None:
        found.append(Difference(member.id, member.name, kind, provider, ours, action, note))

    if member.status in FINAL_STATES:
        if user.active:
            note = f"the member was {member.status} in vaultgate; that is final"
            differs(ACTIVE_BUT_REMOVED, "active", member.status, HOLD, note)
        return found
    if not user.active:
        credentials = _held_credentials(*held)
        if member.status == "active":
            ours = "active" + (f", {credentials}" if credentials else "")
            differs(DEACTIVATED_BUT_ACTIVE, "inactive", ours, DEPROVISION)
        elif credentials:
            differs(DEACTIVATED_WITH_CREDENTIALS, "inactive", f"{member.status}, {credentials}", DEPROVISION)
        return found
    if member.status == "suspended":
        note = "a suspension by an admin stands: resume the member by hand if it should not"
        differs(ACTIVE_BUT_SUSPENDED, "active", "suspended", HOLD, note)
    placement = identity.resolve(session, groups)
    if placement is None:
        return found
    if placement.team_id is not None and placement.team_id != member.team_id:
        wanted = team_names.get(placement.team_id, placement.team_id)
        current = team_names.get(member.team_id or "", "—")
        differs(TEAM, f"team {wanted}", f"team {current}", PLACE)
    if member.role != Role.OWNER.value and member.role != placement.role.value:
        differs(ROLE, f"role {placement.role.value}", f"role {member.role}", PLACE)
    return found


def _report(session: Session, now: datetime) -> SyncReport:
    rows = session.execute(
        select(Member, IdentityUser).outerjoin(IdentityUser, IdentityUser.member_id == Member.id).order_by(Member.name)
    ).all()
    team_names = {team_id: name for team_id, name in session.execute(select(Team.id, Team.name))}
    managed = [(m, u) for m, u in rows if u is not None and u.scim_managed]
    held = _credentials(session, (m.id for m, _ in managed), now)
    groups = _groups(session, (u.id for _, u in managed))
    differences: list[Difference] = []
    for member, user in managed:
        differences += _compare(session, member, user, groups.get(user.id, []), held.get(member.id, (0, 0)), team_names)
    unmanaged = tuple(
        Unmanaged(
            m.id,
            m.name,
            team_names.get(m.team_id or ""),
            m.role,
            m.status,
            "no identity record" if u is None else "identity record not managed by SCIM",
        )
        for m, u in rows
        if (u is None or not u.scim_managed) and m.status not in FINAL_STATES
    )
    return SyncReport(tuple(differences), unmanaged, len(managed))


def report(cp: ControlPlane, actor: Actor) -> SyncReport:
    """The dry run: every difference and every member SCIM does not manage (owners, org admins, auditors)."""
    access.require_org_overview(actor, "read the identity reconciliation")
    with cp.store.session() as session:
        return _report(session, cp.clock())


def apply(cp: ControlPlane, actor: Actor) -> SyncResult:
    """Apply the provider's view to every SCIM-managed member that differs (owners and org admins).

    One transaction per member, re-checked inside it: a refused change (a move the member's keys exceed,
    a mapped team that is gone) is audited as refused and the others still happen. Reported-only
    differences (an admin's suspension, a removal) and members SCIM does not manage are never touched.
    The run itself is audited as ``identity.sync`` with its counts.
    """
    access.require_org_manager(actor, "apply the identity reconciliation")
    before = report(cp, actor)
    applied: list[Applied] = []
    for member_id in dict.fromkeys(d.member_id for d in before.actionable):
        applied.append(_apply_one(cp, actor, member_id))
    with cp.store.session() as session:
        outcomes = ("done", "unchanged", "refused")
        counts: dict[str, Any] = {o: sum(1 for a in applied if a.outcome == o) for o in outcomes}
        cp.audit(session, actor, "identity.sync", None, differences=len(before.differences), **counts)
    return SyncResult(before, tuple(applied))


def _apply_one(cp: ControlPlane, actor: Actor, member_id: str) -> Applied:
    now = cp.clock()
    name = member_id
    action = HOLD
    try:
        with cp.store.session() as session:
            pair = session.execute(
                select(Member, IdentityUser)
                .join(IdentityUser, and_(IdentityUser.member_id == Member.id, IdentityUser.scim_managed.is_(True)))
                .where(Member.id == member_id)
            ).first()
            if pair is None:
                return Applied(member_id, name, action, "unchanged", "no longer managed by SCIM")
            member, user = pair
            name = member.name
            team_names = {team_id: name for team_id, name in session.execute(select(Team.id, Team.name))}
            held = _credentials(session, [member.id], now).get(member.id, (0, 0))
            found = _compare(session, member, user, _groups(session, [user.id]).get(user.id, []), held, team_names)
            kinds = {d.kind for d in found if d.action != HOLD}
            if kinds & {DEACTIVATED_BUT_ACTIVE, DEACTIVATED_WITH_CREDENTIALS}:
                action = DEPROVISION
                ended = identity.deprovision(session, cp, actor, member, requested_at=now)
                detail = (
                    f"suspended; {ended.keys} key(s) and {ended.admin_tokens} admin token(s) revoked, "
                    f"{ended.short_lived} short-lived token(s) deleted"
                )
                return Applied(member.id, name, action, "done" if ended.changed else "unchanged", detail)
            if kinds & {TEAM, ROLE}:
                action = PLACE
                placement = identity.resolve(session, _groups(session, [user.id]).get(user.id, []))
                if placement is not None and identity.place(session, cp, actor, member, placement):
                    detail = "; ".join(f"{d.kind} → {d.provider}" for d in found)
                    return Applied(member.id, name, action, "done", detail)
            return Applied(member.id, name, action, "unchanged", "already as the provider says")
    except ServiceError as exc:
        cp.audit_refusal(actor, f"identity.{action}" if action != HOLD else "identity.sync", member_id, str(exc)[:300])
        return Applied(member_id, name, action, "refused", str(exc))
