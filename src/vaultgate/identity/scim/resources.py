"""The SCIM resources vaultgate serves, as scim2-models classes, and their mapping to service records.

A User carries only what vaultgate keeps: ``userName``, ``displayName``, ``emails`` (one is kept: the
primary one, else the first), ``active``, ``externalId``, and the read-only ``groups``. ``name`` is
accepted on input (identity providers send ``name.givenName``/``familyName``) and only gives the display
name when ``displayName`` is absent; it is neither published nor returned. Any other attribute or schema
(the enterprise extension too) is refused with ``invalidSyntax`` by the models themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, cast

from scim2_models import (
    URN,
    ComplexAttribute,
    Email,
    Group,
    GroupMember,
    GroupMembership,
    Meta,
    Mutability,
    Required,
    Resource,
    Uniqueness,
)

from vaultgate.services.scim_groups import GroupRecord, GroupState
from vaultgate.services.scim_users import UserRecord, UserState


class ScimName(ComplexAttribute):
    """``name``: read only to derive a display name."""

    formatted: str | None = None
    family_name: str | None = None
    given_name: str | None = None


class ScimUser(Resource[Any]):
    """The core User schema, cut to the attributes vaultgate keeps."""

    __schema__ = URN("urn:ietf:params:scim:schemas:core:2.0:User")

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    name: ScimName | None = None
    display_name: str | None = None
    active: bool | None = None
    emails: list[Email] | None = None
    groups: Annotated[list[GroupMembership] | None, Mutability.read_only] = None


def etag(version: int) -> str:
    """The weak entity tag of a resource version (``W/"3"``)."""
    return f'W/"{version}"'


def _meta(kind: str, location: str, created: datetime, modified: datetime, version: int) -> Meta:
    return Meta(resource_type=kind, created=created, last_modified=modified, location=location, version=etag(version))


def _membership(group_id: str, name: str, base: str) -> GroupMembership:
    return GroupMembership(value=group_id, display=name, type="direct", ref=cast(Any, f"{base}/Groups/{group_id}"))


def user_resource(record: UserRecord, base: str, *, to_patch: bool = False) -> ScimUser:
    """The SCIM User of a stored record (``base``: the service's URL, ``…/scim/v2``).

    ``to_patch``: the resource a PATCH is applied to, whose email is the primary ``work`` one, so the
    path Entra ID sends (``emails[type eq "work"].value``) finds it; responses carry the value only."""
    state = record.state
    email = Email(value=state.email, type=Email.Type.work, primary=True) if to_patch else Email(value=state.email)
    return ScimUser(
        id=record.id,
        external_id=state.external_id,
        user_name=state.user_name,
        display_name=state.display_name,
        active=state.active,
        emails=[email] if state.email else None,
        groups=[_membership(g, name, base) for g, name in record.groups] or None,
        meta=_meta("User", f"{base}/Users/{record.id}", record.created_at, record.updated_at, record.version),
    )


def _display_name(user: ScimUser) -> str | None:
    if user.display_name:
        return user.display_name
    if user.name is None:
        return None
    if user.name.formatted:
        return user.name.formatted
    parts = [p for p in (user.name.given_name, user.name.family_name) if p]
    return " ".join(parts) or None


def _email(user: ScimUser) -> str | None:
    values = [e for e in user.emails or [] if e.value]
    chosen = next((e for e in values if e.primary), values[0] if values else None)
    return str(chosen.value) if chosen is not None else None


def user_state(user: ScimUser, *, active_default: bool) -> UserState:
    """What a parsed User asks for; an absent ``active`` is ``active_default`` (a PUT never reactivates
    someone by leaving ``active`` out)."""
    return UserState(
        user_name=user.user_name or "",
        display_name=_display_name(user),
        email=_email(user),
        external_id=user.external_id,
        active=active_default if user.active is None else user.active,
    )


def group_resource(record: GroupRecord, base: str) -> Group:
    """The SCIM Group of a stored record."""
    members = [
        GroupMember(value=user_id, type="User", ref=cast(Any, f"{base}/Users/{user_id}"))
        for user_id in record.member_names
    ]
    return Group(
        id=record.id,
        external_id=record.state.external_id,
        display_name=record.state.display_name,
        members=members or None,
        meta=_meta("Group", f"{base}/Groups/{record.id}", record.created_at, record.updated_at, record.version),
    )


class NestedGroup(ValueError):
    """A group member that is not a user (vaultgate has no nested groups)."""


def group_state(group: Group) -> GroupState:
    """What a parsed Group asks for; NestedGroup when a member is a group or names no id."""
    ids: list[str] = []
    for member in group.members or []:
        if member.value is None or (member.type is not None and str(member.type) != "User"):
            raise NestedGroup
        ids.append(member.value)
    return GroupState(group.display_name or "", group.external_id, tuple(ids))
