"""SCIM Groups: who is in which identity-provider group, and the team and role that gives them.

After any change to a group (its members, its name, its ``externalId``, its removal) each member it
touched is placed again: :func:`vaultgate.services.identity.resolve` over the displayName and externalId
of every group they are in, then :func:`~vaultgate.services.identity.place` (no mapping matched: team
and role unchanged). A placement a live key of theirs exceeds (PolicyExceedsCeiling) refuses the whole
change. Members are SCIM users of this service only (no nested groups).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vaultgate.services import identity
from vaultgate.services.context import ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.services.scim_users import require_version
from vaultgate.store.models import IdentityGroup, IdentityGroupMember, IdentityUser, Member


class GroupNameTaken(Conflict):
    """Another group already has this displayName, compared case-insensitively (SCIM ``uniqueness``)."""


@dataclass(frozen=True, slots=True)
class GroupState:
    """What the identity provider says about a group: its name, externalId and member (user) ids."""

    display_name: str
    external_id: str | None = None
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """A SCIM Group as stored: its state, its members' userNames (by user id) and resource metadata."""

    id: str
    state: GroupState
    member_names: dict[str, str]
    created_at: datetime
    updated_at: datetime
    version: int


def _check(session: Session, state: GroupState, group_id: str | None) -> GroupState:
    name = identity.check_group_name(state.display_name)
    if state.external_id is not None and (not state.external_id or len(state.external_id) > 255):
        raise InvalidInput("invalid 'externalId': use 1-255 characters")
    taken = select(IdentityGroup.id).where(func.lower(IdentityGroup.display_name) == name.lower())
    if group_id is not None:
        taken = taken.where(IdentityGroup.id != group_id)
    if session.scalar(taken) is not None:
        raise GroupNameTaken(f"displayName {name!r} is already taken (names compare case-insensitively)")
    wanted = tuple(dict.fromkeys(state.members))
    known = set(
        session.scalars(
            select(IdentityUser.id).where(IdentityUser.id.in_(wanted)).where(IdentityUser.scim_managed.is_(True))
        )
    )
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise InvalidInput(f"'members' names {len(unknown)} id(s) that are no SCIM user here (no nested groups)")
    return GroupState(name, state.external_id, wanted)


def _members_of(session: Session, group_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    ids = list(group_ids)
    found: dict[str, dict[str, str]] = {i: {} for i in ids}
    if not ids:
        return found
    rows = session.execute(
        select(IdentityGroupMember.group_id, IdentityUser.id, Member.name)
        .join(IdentityUser, IdentityUser.id == IdentityGroupMember.user_id)
        .join(Member, Member.id == IdentityUser.member_id)
        .where(IdentityGroupMember.group_id.in_(ids))
        .order_by(Member.name)
    ).all()
    for group_id, user_id, name in rows:
        found[group_id][user_id] = name
    return found


def _record(row: IdentityGroup, names: dict[str, str]) -> GroupRecord:
    state = GroupState(row.display_name, row.external_id, tuple(names))
    return GroupRecord(row.id, state, names, row.created_at, row.updated_at, row.version)


def _load(session: Session, group_id: str) -> IdentityGroup:
    row = session.get(IdentityGroup, group_id)
    if row is None:
        raise NotFound(f"no SCIM group with id {group_id!r}")
    return row


def _place(session: Session, cp: ControlPlane, user_ids: Iterable[str], now: datetime) -> None:
    """Place each user again from every group they are in now; their resources change version."""
    for user in session.scalars(select(IdentityUser).where(IdentityUser.id.in_(set(user_ids)))):
        user.version += 1
        user.updated_at = now
        rows = session.execute(
            select(IdentityGroup.display_name, IdentityGroup.external_id)
            .join(IdentityGroupMember, IdentityGroupMember.group_id == IdentityGroup.id)
            .where(IdentityGroupMember.user_id == user.id)
        ).all()
        names = [n for row in rows for n in row if n]
        placement = identity.resolve(session, names)
        member = session.get(Member, user.member_id)
        if placement is not None and member is not None:
            identity.place(session, cp, identity.PROVIDER, member, placement)


def _write_members(
    session: Session, group_id: str, before: Iterable[str], after: Iterable[str]
) -> tuple[set[str], set[str]]:
    old, new = set(before), set(after)
    added, removed = new - old, old - new
    if removed:
        session.execute(
            delete(IdentityGroupMember)
            .where(IdentityGroupMember.group_id == group_id)
            .where(IdentityGroupMember.user_id.in_(removed))
        )
    session.add_all(IdentityGroupMember(group_id=group_id, user_id=u) for u in sorted(added))
    return added, removed


def create(cp: ControlPlane, state: GroupState) -> GroupRecord:
    """A new group with its members, who are placed by the mappings that name it."""
    now = cp.clock()
    with cp.store.session() as session:
        state = _check(session, state, None)
        row = IdentityGroup(
            id=new_id("scg"),
            display_name=state.display_name,
            external_id=state.external_id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        _write_members(session, row.id, (), state.members)
        session.flush()
        _place(session, cp, state.members, now)
        cp.audit(session, identity.PROVIDER, "identity.group.create", row.id, members_added=len(state.members))
        cp.store.notify_change(session)
        return _record(row, _members_of(session, [row.id])[row.id])


def get(cp: ControlPlane, group_id: str) -> GroupRecord:
    """The SCIM group ``group_id``; NotFound otherwise."""
    with cp.store.session() as session:
        row = _load(session, group_id)
        return _record(row, _members_of(session, [row.id])[row.id])


def list_groups(
    cp: ControlPlane, *, display_name: str | None = None, external_id: str | None = None
) -> list[GroupRecord]:
    """Every group by creation, or only those with this displayName (case-insensitively) or externalId."""
    with cp.store.session() as session:
        query = select(IdentityGroup).order_by(IdentityGroup.created_at, IdentityGroup.id)
        if display_name is not None:
            query = query.where(func.lower(IdentityGroup.display_name) == display_name.lower())
        if external_id is not None:
            query = query.where(IdentityGroup.external_id == external_id)
        rows = list(session.scalars(query))
        names = _members_of(session, [r.id for r in rows])
        return [_record(r, names[r.id]) for r in rows]


def change(
    cp: ControlPlane,
    group_id: str,
    edit: Callable[[GroupRecord], GroupState],
    *,
    if_match: Container[int] | None = None,
) -> GroupRecord:
    """Apply ``edit`` (the current record → the wanted state: a PUT or a PATCH) in one transaction; the
    members it touches (and, on a rename, every member) are placed again."""
    now = cp.clock()
    with cp.store.session() as session:
        row = _load(session, group_id)
        require_version(row, if_match)
        current = _record(row, _members_of(session, [row.id])[row.id])
        wanted = _check(session, edit(current), row.id)
        renamed = (wanted.display_name, wanted.external_id) != (current.state.display_name, current.state.external_id)
        added, removed = _write_members(session, row.id, current.state.members, wanted.members)
        if not renamed and not added and not removed:
            return current
        row.display_name, row.external_id = wanted.display_name, wanted.external_id
        row.version += 1
        row.updated_at = now
        session.flush()
        _place(session, cp, set(wanted.members) | removed if renamed else added | removed, now)
        cp.audit(
            session,
            identity.PROVIDER,
            "identity.group.update",
            row.id,
            renamed=renamed,
            members_added=len(added),
            members_removed=len(removed),
        )
        cp.store.notify_change(session)
        return _record(row, _members_of(session, [row.id])[row.id])


def delete_group(cp: ControlPlane, group_id: str, *, if_match: Container[int] | None = None) -> None:
    """Remove the group; its former members are placed again from the groups they are still in."""
    now = cp.clock()
    with cp.store.session() as session:
        row = _load(session, group_id)
        require_version(row, if_match)
        former = list(
            session.scalars(select(IdentityGroupMember.user_id).where(IdentityGroupMember.group_id == row.id))
        )
        session.execute(delete(IdentityGroupMember).where(IdentityGroupMember.group_id == row.id))
        session.delete(row)
        session.flush()
        _place(session, cp, former, now)
        cp.audit(session, identity.PROVIDER, "identity.group.delete", group_id, members_removed=len(former))
        cp.store.notify_change(session)
