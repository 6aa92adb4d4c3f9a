"""Admin API tokens (``vga_``): per person, acting with at most the person's role, always expiring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from vaultgate.keys import tokens
from vaultgate.services import access, members
from vaultgate.services.context import Actor, ControlPlane, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotFound
from vaultgate.services.keys import parse_duration
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import AdminToken, Member

DEFAULT_LIFETIME = "90d"
MAX_LIFETIME = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class AdminTokenInfo:
    """An admin token's metadata; never the token."""

    id: str
    member: str
    role: str
    display: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def _info(row: AdminToken, member: Member) -> AdminTokenInfo:
    return AdminTokenInfo(
        row.id, member.name, row.role or member.role, row.display, row.created_at, row.expires_at, row.revoked_at
    )


@refusals_audited("admin_token.create")
def create(
    cp: ControlPlane, actor: Actor, member_name: str, *, role: str | None = None, expires_in: str = DEFAULT_LIFETIME
) -> tuple[AdminTokenInfo, str]:
    """Issue a token for a member (oneself, or anyone for an owner); its role is at most the member's."""
    lifetime = parse_duration(expires_in)
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise InvalidInput("an admin token must expire within 366 days")
    now = cp.clock()
    token = tokens.mint(tokens.TokenKind.ADMIN_TOKEN)
    access.require_issue_admin_token(actor, member_name)
    with cp.store.session() as session:
        member = members.find_visible(session, actor, member_name)
        token_role = access.admin_token_role(actor, member, role)
        row = AdminToken(
            id=new_id("adm"),
            member_id=member.id,
            token_hash=cp.hasher.token_hash(token),
            display=tokens.display(token),
            created_at=now,
            expires_at=now + lifetime,
            revoked_at=None,
            role=token_role.value,
        )
        session.add(row)
        session.flush()
        cp.audit(session, actor, "admin_token.create", row.id, member=member.id, role=token_role.value)
        return _info(row, member), token


def list_tokens(cp: ControlPlane, actor: Actor) -> list[AdminTokenInfo]:
    """Tokens in the actor's scope: all for owners and auditors, one's own otherwise."""
    with cp.store.session() as session:
        rows = session.execute(
            select(AdminToken, Member)
            .join(Member, AdminToken.member_id == Member.id)
            .where(access.admin_token_scope(actor))
            .order_by(AdminToken.created_at, AdminToken.id)
        ).all()
        return [_info(t, m) for t, m in rows]


@refusals_audited("admin_token.revoke")
def revoke(cp: ControlPlane, actor: Actor, token_id: str) -> AdminTokenInfo:
    """Revoke an admin token (one's own, or anyone's for an owner); NotFound outside the actor's scope."""
    with cp.store.session() as session:
        found = session.execute(
            select(AdminToken, Member)
            .join(Member, AdminToken.member_id == Member.id)
            .where(AdminToken.id == token_id)
            .where(access.admin_token_scope(actor))
        ).first()
        if found is None:
            raise NotFound(f"no admin token with id {token_id!r}")
        row, member = found
        access.require_revoke_admin_token(actor, row)
        if row.revoked_at is not None:
            raise Conflict(f"admin token {token_id} is already revoked")
        row.revoked_at = cp.clock()
        cp.audit(session, actor, "admin_token.revoke", row.id, member=member.id)
        return _info(row, member)
