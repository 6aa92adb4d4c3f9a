"""Data subject rights for members: export everything stored about one, and erase one.

Erasure removes the personal fields and keeps the records that name the member by id: the
member row stays (under a keyed pseudonym, status ``erased``) so usage and the audit trail
keep pointing at a row, and nothing in the hash chain is rewritten (audit records hold ids
and keyed references, never names or addresses). Who may do either: owners and organisation
admins (``access.require_org_manager``); erasing also needs the right to change that member
(an organisation admin erases plain members only, nobody erases themselves). Team admins,
auditors and members may do neither: erasure is the controller's decision, and an export is a
disclosure of one person's data to someone else (docs/COMPLIANCE.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vaultgate.services import access, members
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import Conflict
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import (
    AdminToken,
    AuditEvent,
    IdentityGroupMember,
    IdentityUser,
    MemberKey,
    OwnedObject,
    Team,
    UsageEvent,
)

ERASED = "erased"


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure did: the member's new pseudonymous name and how much was revoked or removed."""

    member_id: str
    pseudonym: str
    keys_revoked: int
    admin_tokens_revoked: int
    short_lived_tokens_deleted: int


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@refusals_audited("member.export")
def export(cp: ControlPlane, actor: Actor, name: str) -> dict[str, Any]:
    """Everything stored about a member, as one JSON-ready document; the export is audited (``member.export``)."""
    access.require_org_manager(actor, "export a member's data")
    with cp.store.session() as session:
        member = members.find(session, name)
        team = session.get(Team, member.team_id) if member.team_id else None
        keys = list(
            session.scalars(select(MemberKey).where(MemberKey.member_id == member.id).order_by(MemberKey.created_at))
        )
        tokens = list(
            session.scalars(select(AdminToken).where(AdminToken.member_id == member.id).order_by(AdminToken.created_at))
        )
        objects = list(
            session.scalars(select(OwnedObject).where(OwnedObject.member_id == member.id).order_by(OwnedObject.id))
        )
        ids = {member.id, *(k.id for k in keys), *(t.id for t in tokens)}
        document = {
            "exported_at": cp.clock().isoformat(),
            "member": {
                "id": member.id,
                "name": member.name,
                "email": member.email,
                "display_name": member.display_name,
                "role": member.role,
                "status": member.status,
                "created_at": _iso(member.created_at),
                "limits": member.limits,
            },
            "team": None if team is None else {"id": team.id, "name": team.name},
            "keys": [_key(k) for k in keys],
            "admin_tokens": [
                {
                    "id": t.id,
                    "display": t.display,
                    "role": t.role or member.role,
                    "created_at": _iso(t.created_at),
                    "expires_at": _iso(t.expires_at),
                    "revoked_at": _iso(t.revoked_at),
                }
                for t in tokens
            ],
            "owned_objects": [
                {"id": o.id, "kind": o.kind, "provider": o.provider, "created_at": _iso(o.created_at)} for o in objects
            ],
            "usage": _usage_totals(session, member.id),
            "audit": _audit_about(session, ids),
        }
        # A disclosure of one person's data is itself recorded (after the records it lists).
        cp.audit(session, actor, "member.export", member.id)
        return document


def _key(row: MemberKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "display": row.display,
        "policy": row.policy,
        "limits": row.limits,
        "canary": row.canary,
        "created_at": _iso(row.created_at),
        "not_before": _iso(row.not_before),
        "expires_at": _iso(row.expires_at),
        "rotated_at": _iso(row.rotated_at),
        "revoked_at": _iso(row.revoked_at),
        "revoked_reason": row.revoked_reason,
    }


def _usage_totals(session: Session, member_id: str) -> list[dict[str, Any]]:
    """Requests, tokens and cost per UTC day and model (the rows themselves hold nothing more personal)."""
    totals: dict[tuple[str, str | None], dict[str, Any]] = defaultdict(
        lambda: {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    )
    rows = session.execute(
        select(
            UsageEvent.at, UsageEvent.model, UsageEvent.prompt_tokens, UsageEvent.completion_tokens, UsageEvent.cost_usd
        )
        .where(UsageEvent.member_id == member_id)
        .execution_options(yield_per=1000)
    )
    for at, model, prompt, completion, cost in rows:
        line = totals[(at.date().isoformat(), model)]
        line["requests"] += 1
        line["prompt_tokens"] += prompt or 0
        line["completion_tokens"] += completion or 0
        line["cost_usd"] += cost or 0.0
    return [
        {"day": day, "model": model, **values}
        for (day, model), values in sorted(totals.items(), key=lambda item: (item[0][0], item[0][1] or ""))
    ]


def _audit_about(session: Session, ids: set[str]) -> list[dict[str, Any]]:
    """Audit records whose actor, target or details name the member (or one of their keys or tokens) by id."""
    found = []
    for row in session.scalars(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000)):
        if row.actor in ids or row.target in ids or _mentions(row.details, ids):
            found.append(
                {
                    "seq": row.seq,
                    "at": _iso(row.at),
                    "actor": row.actor,
                    "action": row.action,
                    "target": row.target,
                    "outcome": row.outcome,
                    "details": row.details,
                }
            )
    return found


def _mentions(value: Any, ids: set[str]) -> bool:
    if isinstance(value, str):
        return value in ids
    if isinstance(value, dict):
        return any(_mentions(v, ids) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, ids) for v in value)
    return False


def pseudonym(cp: ControlPlane, member_id: str) -> str:
    """The name an erased member keeps: ``erased-`` and 12 hex characters keyed on the member id."""
    return "erased-" + cp.hasher.pseudonym("erased-member", member_id, 12)


@refusals_audited("member.erase")
def erase(cp: ControlPlane, actor: Actor, name: str) -> Erasure:
    """Revoke every credential of a member and remove their personal fields, in one transaction."""
    access.require_org_manager(actor, "erase members")
    now = cp.clock()
    with cp.store.session() as session:
        member = members.find(session, name)
        if member.status == ERASED:
            raise Conflict(f"member {member.name!r} is already erased")
        access.require_change_member(actor, member, "erase this member")
        revoked, tokens_revoked, deleted = members.revoke_credentials(session, member, now, ERASED)
        for key in session.scalars(select(MemberKey).where(MemberKey.member_id == member.id)):
            key.name = None  # a key's name may be personal ("quinn-laptop")
        # What the identity provider gave (SCIM externalId, OIDC subject) goes with the SCIM resource.
        identity_ids = list(session.scalars(select(IdentityUser.id).where(IdentityUser.member_id == member.id)))
        session.execute(delete(IdentityGroupMember).where(IdentityGroupMember.user_id.in_(identity_ids)))
        session.execute(delete(IdentityUser).where(IdentityUser.id.in_(identity_ids)))
        member.name = pseudonym(cp, member.id)
        member.email = None
        member.display_name = None
        member.status = ERASED
        cp.audit(
            session,
            actor,
            "member.erase",
            member.id,
            keys_revoked=revoked,
            admin_tokens_revoked=tokens_revoked,
            short_lived_tokens_deleted=deleted,
        )
        cp.store.notify_change(session)
        return Erasure(member.id, member.name, revoked, tokens_revoked, deleted)
