"""Break-glass (services/break_glass.py): owners' admin tokens used while identity is managed elsewhere, and
whether a local owner still exists to use one.

- ``identity.break_glass_used`` (medium): ``identity.break_glass`` audit records within the last
  ``posture_window_days``, one finding per token, with how many and on which surfaces;
- ``identity.no_local_owner`` (high): SCIM manages members and no active owner exists whom SCIM does not
  manage: when the identity provider is down (or deprovisions the wrong person) nobody can get in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from vaultgate.services.break_glass import ACTION
from vaultgate.services.context import Role
from vaultgate.services.identity_sync import scim_in_use
from vaultgate.services.posture.finding import Fact, Finding, Severity, command
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.store.models import AuditEvent, IdentityUser, Member


def break_glass_used(inspection: Inspection) -> Iterator[Finding | Fact]:
    """One medium finding per admin token recorded as break-glass within the posture window."""
    days = inspection.settings.posture_window_days
    since = inspection.now - timedelta(days=days)
    uses: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "surfaces": set(), "members": set()})
    with inspection.plane.store.session() as session:
        rows = session.execute(
            select(AuditEvent.target, AuditEvent.actor, AuditEvent.at, AuditEvent.details)
            .where(AuditEvent.action == ACTION, AuditEvent.at >= since)
            .order_by(AuditEvent.seq)
        ).all()
    for target, actor, at, details in rows:
        info: dict[str, Any] = details if isinstance(details, dict) else {}
        token_id = str(info.get("token_id") or target)
        entry = uses[token_id]
        entry["count"] += 1
        entry["surfaces"].add(str(info.get("surface") or "unknown"))
        entry["members"].add(actor)
        entry.setdefault("first_at", at)
        entry["last_at"] = at
    yield Fact("break_glass_uses", sum(e["count"] for e in uses.values()))
    for token_id, entry in sorted(uses.items()):
        yield Finding(
            "identity.break_glass_used",
            Severity.MEDIUM,
            f"owner admin token used {entry['count']} time(s) as break-glass in the last {days} days",
            token_id,
            {
                "token_id": token_id,
                "member_ids": sorted(entry["members"]),
                "count": entry["count"],
                "surfaces": sorted(entry["surfaces"]),
                "first_at": entry["first_at"].isoformat(),
                "last_at": entry["last_at"].isoformat(),
                "window_days": days,
            },
            command("audit", "export", "--action", ACTION, "--target", token_id),
        )


def no_local_owner(inspection: Inspection) -> Iterator[Finding | Fact]:
    """High when SCIM manages members and every active owner is SCIM-managed (or there is none)."""
    with inspection.plane.store.session() as session:
        if not scim_in_use(session):
            return
        managed = select(IdentityUser.member_id).where(IdentityUser.scim_managed.is_(True))
        owners = select(Member.id).where(Member.role == Role.OWNER.value, Member.status == "active")
        local_owners = list(session.scalars(owners.where(Member.id.not_in(managed))))
    yield Fact("local_owners", len(local_owners))
    if not local_owners:
        yield Finding(
            "identity.no_local_owner",
            Severity.HIGH,
            "SCIM manages members and no active owner is local: the break-glass path is gone",
            "installation",
            {"local_owners": 0},
            f"{command('member', 'add', 'NAME', '--role', 'owner')} && "
            f"{command('admin-token', 'create', '--member', 'NAME', '--expires', '90d')}",
        )


CHECKS = (Check("identity.break_glass", break_glass_used), Check("identity.local_owner", no_local_owner))
