"""SCIM Users: the identity provider's word on a person, applied to their member row in one transaction.

A SCIM User is a member (``userName`` the member's name, the primary email their email, ``displayName``
their display name) plus an ``identity_users`` row (the resource id, ``externalId``, ``active`` and the
resource version behind its ETag). The protocol layer (``identity/scim``) parses and renders; this module
decides and writes. Every change is audited with ids only, and a change the caller's version precondition
(``If-Match``) does not hold for is refused before anything is written.

- ``active`` false (PUT or PATCH) suspends the member and ends every credential
  (:func:`vaultgate.services.identity.deprovision`); true again makes them active (their old keys stay
  revoked, :func:`~vaultgate.services.identity.reprovision`).
- DELETE deprovisions the same way and removes the SCIM resource (the identity row and its group
  memberships); the member row stays, suspended, for the usage and audit records that name it.
  ``vaultgate member remove`` (final) or an erasure is the admin's call, not the provider's.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vaultgate.services import identity, members
from vaultgate.services.context import ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.store.models import IdentityGroup, IdentityGroupMember, IdentityUser, Member


class UserNameTaken(Conflict):
    """Another member already has this name, compared case-insensitively (SCIM ``uniqueness``)."""


class VersionMismatch(Conflict):
    """The resource's version is not the one the caller's ``If-Match`` names (HTTP 412)."""


@dataclass(frozen=True, slots=True)
class UserState:
    """What the identity provider says about a person (every attribute vaultgate keeps)."""

    user_name: str
    display_name: str | None = None
    email: str | None = None
    external_id: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A SCIM User as stored: its state, its groups (id, displayName) and its resource metadata."""

    id: str
    member_id: str
    state: UserState
    groups: tuple[tuple[str, str], ...]
    created_at: datetime
    updated_at: datetime
    version: int


def check_state(state: UserState) -> UserState:
    """``state`` with each value checked by the member rules (InvalidInput naming what is wrong)."""
    members.check_name("member", state.user_name)
    email = members.check_email(state.email) if state.email else None
    display = members.check_display_name(state.display_name) if state.display_name else None
    external = state.external_id
    if external is not None and (not external or len(external) > 255):
        raise InvalidInput("invalid 'externalId': use 1-255 characters")
    return replace(state, email=email, display_name=display)


def _groups_of(session: Session, user_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    ids = list(user_ids)
    found: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = session.execute(
        select(IdentityGroupMember.user_id, IdentityGroup.id, IdentityGroup.display_name)
        .join(IdentityGroup, IdentityGroup.id == IdentityGroupMember.group_id)
        .where(IdentityGroupMember.user_id.in_(ids))
        .order_by(IdentityGroup.display_name)
    ).all()
    for user_id, group_id, name in rows:
        found[user_id].append((group_id, name))
    return found


def _record(row: IdentityUser, member: Member, groups: list[tuple[str, str]]) -> UserRecord:
    state = UserState(member.name, member.display_name, member.email, row.external_id, row.active)
    return UserRecord(row.id, member.id, state, tuple(groups), row.created_at, row.updated_at, row.version)


def _load(session: Session, user_id: str) -> tuple[IdentityUser, Member]:
    found = session.execute(
        select(IdentityUser, Member).join(Member, Member.id == IdentityUser.member_id).where(IdentityUser.id == user_id)
    ).first()
    if found is None or not found[0].scim_managed:
        raise NotFound(f"no SCIM user with id {user_id!r}")
    return found[0], found[1]


def require_version(row: IdentityUser | IdentityGroup, if_match: Container[int] | None) -> None:
    """VersionMismatch unless ``if_match`` (the versions an ``If-Match`` names; None: any) holds ``row``'s."""
    if if_match is not None and row.version not in if_match:
        raise VersionMismatch("the resource has changed since the version named by If-Match")


def _require_free_name(session: Session, name: str, member_id: str | None) -> None:
    query = select(Member.id).where(func.lower(Member.name) == name.lower())
    if member_id is not None:
        query = query.where(Member.id != member_id)
    if session.scalar(query) is not None:
        raise UserNameTaken(f"userName {name!r} is already taken (names compare case-insensitively)")


def create(cp: ControlPlane, state: UserState, *, requested_at: datetime) -> UserRecord:
    """Provision a person: a new member (role ``member``, no team until a mapped group places them) and
    their SCIM resource. A taken name (any member, case-insensitively) is UserNameTaken: an existing
    member is never claimed silently."""
    state = check_state(state)
    now = cp.clock()
    with cp.store.session() as session:
        _require_free_name(session, state.user_name, None)
        member = Member(
            id=new_id("mem"),
            name=state.user_name,
            email=state.email,
            display_name=state.display_name,
            team_id=None,
            role="member",
            status="active" if state.active else "suspended",
            created_at=now,
            limits={},
        )
        row = IdentityUser(
            id=new_id("scu"),
            member_id=member.id,
            external_id=state.external_id,
            active=state.active,
            scim_managed=True,
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(member)
        session.flush()
        session.add(row)
        cp.audit(session, identity.PROVIDER, "identity.user.create", row.id, member=member.id, active=state.active)
        cp.store.notify_change(session)
        return _record(row, member, [])


def get(cp: ControlPlane, user_id: str) -> UserRecord:
    """The SCIM user ``user_id``; NotFound otherwise."""
    with cp.store.session() as session:
        row, member = _load(session, user_id)
        return _record(row, member, _groups_of(session, [row.id])[row.id])


def list_users(cp: ControlPlane, *, user_name: str | None = None, external_id: str | None = None) -> list[UserRecord]:
    """Every SCIM user by creation, or only those with this ``userName`` (case-insensitively) or ``externalId``."""
    with cp.store.session() as session:
        query = (
            select(IdentityUser, Member)
            .join(Member, Member.id == IdentityUser.member_id)
            .where(IdentityUser.scim_managed.is_(True))
            .order_by(IdentityUser.created_at, IdentityUser.id)
        )
        if user_name is not None:
            query = query.where(func.lower(Member.name) == user_name.lower())
        if external_id is not None:
            query = query.where(IdentityUser.external_id == external_id)
        rows = session.execute(query).all()
        groups = _groups_of(session, [r.id for r, _ in rows])
        return [_record(r, m, groups[r.id]) for r, m in rows]


def change(
    cp: ControlPlane,
    user_id: str,
    edit: Callable[[UserRecord], UserState],
    *,
    if_match: Container[int] | None = None,
    requested_at: datetime,
) -> UserRecord:
    """Apply ``edit`` (the current record → the state the provider wants: a PUT or a PATCH) in one
    transaction. ``active`` false deprovisions, true again reprovisions; nothing is written when ``edit``
    or a check raises."""
    with cp.store.session() as session:
        row, member = _load(session, user_id)
        require_version(row, if_match)
        current = _record(row, member, _groups_of(session, [row.id])[row.id])
        wanted = check_state(edit(current))
        changed = sorted(f for f in UserState.__slots__ if getattr(current.state, f) != getattr(wanted, f))
        if not changed:
            return current
        if wanted.user_name != member.name:
            _require_free_name(session, wanted.user_name, member.id)
        member.name, member.email, member.display_name = wanted.user_name, wanted.email, wanted.display_name
        row.external_id, row.active = wanted.external_id, wanted.active
        row.version += 1
        row.updated_at = cp.clock()
        cp.audit(session, identity.PROVIDER, "identity.user.update", row.id, member=member.id, changed=changed)
        if "active" in changed and not wanted.active:
            identity.deprovision(session, cp, identity.PROVIDER, member, requested_at=requested_at)
        elif "active" in changed:
            identity.reprovision(session, cp, identity.PROVIDER, member)
        cp.store.notify_change(session)
        return _record(row, member, list(current.groups))


def delete_user(
    cp: ControlPlane, user_id: str, *, if_match: Container[int] | None = None, requested_at: datetime
) -> None:
    """Deprovision the person and remove their SCIM resource (identity row and group memberships); the
    member row stays, suspended, with every credential ended."""
    with cp.store.session() as session:
        row, member = _load(session, user_id)
        require_version(row, if_match)
        identity.deprovision(session, cp, identity.PROVIDER, member, requested_at=requested_at)
        group_ids = list(
            session.scalars(select(IdentityGroupMember.group_id).where(IdentityGroupMember.user_id == row.id))
        )
        session.execute(delete(IdentityGroupMember).where(IdentityGroupMember.user_id == row.id))
        now = cp.clock()
        for group in session.scalars(select(IdentityGroup).where(IdentityGroup.id.in_(group_ids))):
            group.version += 1
            group.updated_at = now
        session.delete(row)
        cp.audit(session, identity.PROVIDER, "identity.user.delete", user_id, member=member.id, groups=len(group_ids))
        cp.store.notify_change(session)
