"""The periodic max-age sweep: each key past its team's max age is announced once (audit + webhook)."""

from __future__ import annotations

from sqlalchemy import select

from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.keys import KeyInfo, info
from vaultgate.store.models import AuditEvent, Member, MemberKey, Team

WARNING = "key.rotation_due"


def sweep(cp: ControlPlane) -> list[KeyInfo]:
    """Every live key due for rotation; those not yet announced since their last rotation are announced now."""
    now = cp.clock()
    due: list[KeyInfo] = []
    with cp.store.session() as session:
        rows = session.execute(
            select(MemberKey, Member, Team)
            .join(Member, MemberKey.member_id == Member.id)
            .outerjoin(Team, Member.team_id == Team.id)
            .where(MemberKey.revoked_at.is_(None), MemberKey.canary.is_(False))
        ).all()
        for key, member, team in rows:
            shown = info(key, member, team, now)
            if not shown.rotation_due or shown.status != "active":
                continue
            due.append(shown)
            since = key.rotated_at or key.created_at
            warned = session.scalar(
                select(AuditEvent.seq)
                .where(AuditEvent.action == WARNING, AuditEvent.target == key.id, AuditEvent.at >= since)
                .limit(1)
            )
            if warned is None:
                cp.audit(session, LOCAL_OPERATOR, WARNING, key.id, member=member.id, age_days=shown.age_days)
                cp.notifier.send(
                    {
                        "event": WARNING,
                        "key_id": key.id,
                        "member": member.name,
                        "email": member.email,
                        "display": key.display,
                        "age_days": shown.age_days,
                    }
                )
    return due
