"""SCIM tokens (``vgs_``): the bearer an identity provider presents at ``/scim/v2``, and no other right.

Owners create them (the secret is shown once; only its keyed hash is stored), list them and revoke them.
A SCIM token provisions and deprovisions people; it never reaches ``/admin``, ``/console`` or ``/v1``,
and no admin or member token reaches ``/scim/v2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from vaultgate.keys import tokens
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane, Role, new_id
from vaultgate.services.errors import Conflict, InvalidInput, NotAuthorised, NotFound
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import ScimToken

_NAME_MAX = 100


@dataclass(frozen=True, slots=True)
class ScimTokenInfo:
    """A SCIM token's metadata; never the token."""

    id: str
    name: str | None
    display: str
    created_at: datetime
    revoked_at: datetime | None


def _info(row: ScimToken) -> ScimTokenInfo:
    return ScimTokenInfo(row.id, row.name, row.display, row.created_at, row.revoked_at)


def _require_owner(actor: Actor, what: str) -> None:
    if actor.role is not Role.OWNER:
        raise NotAuthorised(f"only an owner may {what}")


@refusals_audited("identity.scim_token.create")
def create(cp: ControlPlane, actor: Actor, name: str | None = None) -> tuple[ScimTokenInfo, str]:
    """A new SCIM token (owners only): its metadata and the token, which exists only in this answer."""
    _require_owner(actor, "create SCIM tokens")
    if name is not None:
        name = name.strip()
        if not name or len(name) > _NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise InvalidInput(f"invalid 'name': use 1-{_NAME_MAX} printable characters")
    token = tokens.mint(tokens.TokenKind.SCIM_TOKEN)
    with cp.store.session() as session:
        row = ScimToken(
            id=new_id("scim"),
            name=name,
            token_hash=cp.hasher.token_hash(token),
            display=tokens.display(token),
            created_at=cp.clock(),
            revoked_at=None,
        )
        session.add(row)
        cp.audit(session, actor, "identity.scim_token.create", row.id)
        return _info(row), token


def list_tokens(cp: ControlPlane, actor: Actor) -> list[ScimTokenInfo]:
    """Every SCIM token, oldest first (organisation managers and auditors)."""
    access.require_org_reader(actor, "list SCIM tokens")
    with cp.store.session() as session:
        return [_info(r) for r in session.scalars(select(ScimToken).order_by(ScimToken.created_at, ScimToken.id))]


@refusals_audited("identity.scim_token.revoke")
def revoke(cp: ControlPlane, actor: Actor, token_id: str) -> ScimTokenInfo:
    """Revoke a SCIM token (owners only): refused from its next request on."""
    _require_owner(actor, "revoke SCIM tokens")
    with cp.store.session() as session:
        row = session.get(ScimToken, token_id)
        if row is None:
            raise NotFound(f"no SCIM token with id {token_id!r}")
        if row.revoked_at is not None:
            raise Conflict(f"SCIM token {token_id} is already revoked")
        row.revoked_at = cp.clock()
        cp.audit(session, actor, "identity.scim_token.revoke", row.id)
        return _info(row)


def authenticate(cp: ControlPlane, token: str) -> str | None:
    """The id of the live SCIM token ``token`` is, or None (malformed, another kind, unknown or revoked).

    Looked up by keyed hash on every request, so a revocation holds from the next request on.
    """
    parsed = tokens.parse(token)
    if parsed is None or parsed.kind is not tokens.TokenKind.SCIM_TOKEN:
        return None
    with cp.store.session() as session:
        row = session.scalar(select(ScimToken).where(ScimToken.token_hash == cp.hasher.token_hash(token)))
        if row is None or row.revoked_at is not None:
            return None
        return row.id
