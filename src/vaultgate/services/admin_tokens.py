"""Admin API tokens (``vga_``): per person, acting with at most the person's role, always expiring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from vaultgate.keys import tokens
from vaultgate.services import access, members
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound
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
    with cp.store.session() as session:
        member = members.find(session, member_name)
        if actor.role is not Role.OWNER and member.id != actor.member_id:
            raise NotAuthorised("only an owner may issue admin tokens for someone else")
        member_role = Role(member.role)
        try:
            token_role = Role.parse(role) if role else member_role
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
        if access.rank(token_role) > access.rank(member_role) or access.rank(token_role) > access.rank(actor.role):
            raise NotAuthorised(f"a token for {member.name} cannot carry the {token_role.value} role")
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
        cp.audit(session, actor, "admin_token.create", row.id, member=member.name, role=token_role.value)
        return _info(row, member), token


def list_tokens(cp: ControlPlane, actor: Actor) -> list[AdminTokenInfo]:
    """All tokens for owners and auditors, one's own otherwise."""
    with cp.store.session() as session:
        rows = session.execute(
            select(AdminToken, Member).join(Member, AdminToken.member_id == Member.id).order_by(AdminToken.created_at)
        ).all()
        visible = actor.role in (Role.OWNER, Role.AUDITOR)
        return [_info(t, m) for t, m in rows if visible or m.id == actor.member_id]


@refusals_audited("admin_token.revoke")
def revoke(cp: ControlPlane, actor: Actor, token_id: str) -> AdminTokenInfo:
    """Revoke an admin token (one's own, or anyone's for an owner)."""
    with cp.store.session() as session:
        found = session.execute(
            select(AdminToken, Member).join(Member, AdminToken.member_id == Member.id).where(AdminToken.id == token_id)
        ).first()
        if found is None or (actor.role is not Role.OWNER and found[1].id != actor.member_id):
            raise NotFound(f"no admin token with id {token_id!r}")
        row, member = found
        if row.revoked_at is not None:
            raise Conflict(f"admin token {token_id} is already revoked")
        row.revoked_at = cp.clock()
        cp.audit(session, actor, "admin_token.revoke", row.id, member=member.name)
        return _info(row, member)
