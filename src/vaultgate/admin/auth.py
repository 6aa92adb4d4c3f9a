"""Admin authentication: a person's ``vga_`` token → the acting member and role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select

from vaultgate.keys import tokens
from vaultgate.services.access import effective_role
from vaultgate.services.break_glass import BreakGlass
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.store.models import AdminToken, Member

_bearer = HTTPBearer(auto_error=False, description="An admin token: vga_...")


class AdminAuthError(Exception):
    """Missing, malformed, unknown, revoked or expired admin token (one answer for all)."""


class RepeatedAuthorization(Exception):
    """More than one ``Authorization`` header: refused (400), never guessed which one counts."""


def _single_authorization(request: Request) -> None:
    # Proxies and frameworks disagree on which copy of a repeated header wins; one rule on both
    # planes: refuse, so no component can check one token while another acts on the other.
    if len(request.headers.getlist("authorization")) > 1:
        raise RepeatedAuthorization


def control_plane(request: Request) -> ControlPlane:
    """The control plane the admin app was built with."""
    cp: ControlPlane = request.app.state.control_plane
    return cp


def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The member behind the bearer admin token, or AdminAuthError (→ 401); RepeatedAuthorization (→ 400)."""
    _single_authorization(request)
    if credentials is None:
        raise AdminAuthError
    token = credentials.credentials
    parsed = tokens.parse(token)
    if parsed is None or parsed.kind is not tokens.TokenKind.ADMIN_TOKEN:
        raise AdminAuthError
    cp = control_plane(request)
    now = cp.clock()
    with cp.store.session() as session:
        found = session.execute(
            select(AdminToken, Member)
            .join(Member, AdminToken.member_id == Member.id)
            .where(AdminToken.token_hash == cp.hasher.token_hash(token))
        ).first()
    if found is None:
        raise AdminAuthError
    admin_token, member = found
    if admin_token.revoked_at is not None or (admin_token.expires_at is not None and admin_token.expires_at <= now):
        raise AdminAuthError
    if member.status != "active":
        raise AdminAuthError
    role = effective_role(member.role, admin_token.role)
    break_glass: BreakGlass | None = getattr(request.app.state, "break_glass", None)
    if break_glass is not None:  # an owner's token while identity is managed elsewhere: audited (throttled)
        break_glass.api_use(admin_token.id, member.id, member.role)
    return Actor(name=member.name, role=role, member_id=member.id, team_id=member.team_id)


CurrentActor = Annotated[Actor, Depends(current_actor)]
CurrentControlPlane = Annotated[ControlPlane, Depends(control_plane)]


def actor_or_none(request: Request) -> Actor | None:
    """The authenticated actor of a request whose body failed validation (None if the token is bad)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        return current_actor(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip()))
    except (AdminAuthError, RepeatedAuthorization):
        return None
