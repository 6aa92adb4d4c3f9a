"""Who a console session acts as: the credential behind it, looked up again on every request.

An admin token (``vga_``) acts with its role, as on the admin API (``services.access.effective_role``);
a member key (``vgk_``) signs in to the member view: its member, with the ``member`` role whatever
their own role is; a single sign-on (``sso``) acts as its member with the member's own role, for
as long as the identity link exists and the member is active. A revoked, expired, not-yet-valid or
canary credential, or a member who is not active, is one answer: no session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from vaultgate.keys import tokens
from vaultgate.services.access import effective_role
from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.services.identity_signin import linked_member
from vaultgate.store.models import AdminToken, Member, MemberKey


def credential_kind(token: str) -> str | None:
    """``admin`` for a well-formed admin token, ``key`` for a member key, None for anything else."""
    parsed = tokens.parse(token.strip())
    if parsed is None:
        return None
    if parsed.kind is tokens.TokenKind.ADMIN_TOKEN:
        return "admin"
    if parsed.kind is tokens.TokenKind.MEMBER_KEY:
        return "key"
    return None


def _live(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or expires_at > now


def actor_for(cp: ControlPlane, kind: str, credential_hash: str) -> Actor | None:
    """The actor of a credential named by its keyed hash, if it is valid now; None otherwise."""
    now = cp.clock()
    with cp.store.session() as session:
        if kind == "admin":
            found = session.execute(
                select(AdminToken, Member)
                .join(Member, AdminToken.member_id == Member.id)
                .where(AdminToken.token_hash == credential_hash)
            ).first()
            if found is None:
                return None
            token, member = found
            if token.revoked_at is not None or not _live(token.expires_at, now) or member.status != "active":
                return None
            return Actor(member.name, effective_role(member.role, token.role), member.id, member.team_id)
        if kind == "key":
            pair = session.execute(
                select(MemberKey, Member)
                .join(Member, MemberKey.member_id == Member.id)
                .where(MemberKey.key_hash == credential_hash)
            ).first()
            if pair is None:
                return None
            key, member = pair
            if key.revoked_at is not None or key.canary or not _live(key.expires_at, now):
                return None
            if (key.not_before is not None and key.not_before > now) or member.status != "active":
                return None
            return Actor(member.name, Role.MEMBER, member.id, member.team_id)
        if kind == "sso":
            linked = linked_member(session, credential_hash)
            if linked is None:
                return None
            return Actor(linked.name, Role(linked.role), linked.id, linked.team_id)
    return None
