"""The SOC 2 evidence pack: one signed bundle of the facts an auditor samples for a period.

- access review (CC6.1-CC6.3): every member, role, team, status; each key's scopes, models,
  creation, last use and who granted it; keys unused for ``stale_days`` flagged;
- joiners and leavers in the period (``member.create``, ``member.suspend``, ``member.erase``),
  with the time from deprovisioning until the member's keys were refused;
- changes to policies, providers and routes in the period;
- monitoring (CC7.2): canary use, kill switches, leaked-key revocations, security events
  (``auth.*``, ``gateway.*``), and the count of refused control-plane actions;
- the audit chain's verification result.

Built from the store and the audit trail only; signed by :mod:`evidence_bundle`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from vaultgate.services import access, audit_trail
from vaultgate.services.compliance_records import install_facts
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.evidence_bundle import sign
from vaultgate.services.evidence_period import Period
from vaultgate.store.models import AdminToken, AuditEvent, Member, MemberKey, Team, UsageEvent

FORMAT = 1
JOINER_LEAVER = ("member.create", "member.suspend", "member.erase")
# Deprovisioning actions: from their record on, the member's keys are refused (snapshot_loader
# refuses every non-active member; erasure also revokes the keys in the same transaction).
DEPROVISIONING = frozenset({"member.suspend", "member.erase"})
CHANGE_ACTIONS = ("team.policy", "org.policy")
CHANGE_PREFIXES = ("provider.", "route.")
MONITORING_ACTIONS = (
    "canary.used",
    "org.lockdown",
    "team.suspend",
    "team.resume",
    "member.suspend",
    "member.resume",
    "key.leaked",
    "provider.credential_refused",
)
MONITORING_PREFIXES = ("auth.", "gateway.")
KEY_REVOCATIONS = ("key.revoke", "key.leaked")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build(cp: ControlPlane, actor: Actor, period: Period, stale_days: int = 90) -> dict[str, Any]:
    """The signed evidence bundle for ``period`` (owners, organisation admins, auditors)."""
    access.require_audit_reader(actor)
    now = cp.clock()
    as_of = min(now, period.until)
    with cp.store.session() as session:
        names = dict(session.execute(select(Member.id, Member.name)).all())
        bundle: dict[str, Any] = {
            "kind": "vaultgate.evidence",
            "format": FORMAT,
            "period": period.to_json(),
            "generated_at": now.isoformat(),
            "install": install_facts(cp),
            "access_review": _access_review(session, names, as_of, stale_days),
            "joiners_leavers": _joiners_leavers(session, names, period),
            "changes": [_event(row, names) for row in _in_period(session, period, CHANGE_ACTIONS, CHANGE_PREFIXES)],
            "monitoring": _monitoring(session, names, period),
        }
    count, broken = audit_trail.verify(cp, actor)
    bundle["audit_chain"] = {
        "records": count,
        "intact": broken is None,
        "first_break": None if broken is None else {"seq": broken.seq, "reason": broken.reason},
    }
    return sign(bundle, cp.audit_keys.signing_key)


def _who(actor: str | None, names: dict[str, str]) -> dict[str, str | None] | None:
    if actor is None:
        return None
    return {"id": actor, "name": names.get(actor)}


def _event(row: AuditEvent, names: dict[str, str]) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at.isoformat(),
        "actor": _who(row.actor, names),
        "action": row.action,
        "target": row.target,
        "outcome": row.outcome,
        "details": row.details,
    }


def _in_period(
    session: Session, period: Period, actions: tuple[str, ...], prefixes: tuple[str, ...] = ()
) -> list[AuditEvent]:
    matches = [AuditEvent.action.in_(actions), *(AuditEvent.action.startswith(p, autoescape=True) for p in prefixes)]
    query = (
        select(AuditEvent)
        .where(AuditEvent.at >= period.since, AuditEvent.at < period.until)
        .where(or_(*matches))
        .order_by(AuditEvent.seq)
    )
    return list(session.scalars(query).all())


def _key_status(key: MemberKey, as_of: datetime) -> str:
    if key.revoked_at is not None and key.revoked_at <= as_of:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= as_of:
        return "expired"
    return "active"


def _access_review(session: Session, names: dict[str, str], as_of: datetime, stale_days: int) -> dict[str, Any]:
    last_used = dict(
        session.execute(
            select(UsageEvent.key_id, func.max(UsageEvent.at))
            .where(UsageEvent.key_id.is_not(None), UsageEvent.at < as_of)
            .group_by(UsageEvent.key_id)
        ).all()
    )
    granted = {
        row.target: row.actor
        for row in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.in_(("key.create", "canary.create")), AuditEvent.outcome == "ok")
            .order_by(AuditEvent.seq)
        )
    }
    teams = dict(session.execute(select(Team.id, Team.name)).all())
    keys_by_member: dict[str, list[MemberKey]] = {}
    for key in session.scalars(
        select(MemberKey).where(MemberKey.created_at < as_of).order_by(MemberKey.created_at, MemberKey.id)
    ):
        keys_by_member.setdefault(key.member_id, []).append(key)
    tokens_by_member: dict[str, list[AdminToken]] = {}
    for token in session.scalars(
        select(AdminToken).where(AdminToken.created_at < as_of).order_by(AdminToken.created_at, AdminToken.id)
    ):
        tokens_by_member.setdefault(token.member_id, []).append(token)
    stale = timedelta(days=stale_days)
    reviewed = []
    for member in session.scalars(select(Member).where(Member.created_at < as_of).order_by(Member.name)):
        keys = []
        for key in keys_by_member.get(member.id, []):
            status = _key_status(key, as_of)
            used = last_used.get(key.id)
            idle_since = used or key.created_at
            keys.append(
                {
                    "id": key.id,
                    "display": key.display,
                    "canary": key.canary,
                    "scopes": key.policy.get("scopes", {}),
                    "models": key.policy.get("models", []),
                    "policy": key.policy,
                    "created_at": key.created_at.isoformat(),
                    "expires_at": _iso(key.expires_at),
                    "revoked_at": _iso(key.revoked_at),
                    "revoked_reason": key.revoked_reason,
                    "status": status,
                    "last_used": _iso(used),
                    "granted_by": _who(granted.get(key.id), names),
                    "unused_days": (as_of - idle_since).days,
                    "flagged_unused": status == "active" and not key.canary and as_of - idle_since >= stale,
                }
            )
        reviewed.append(
            {
                "id": member.id,
                "name": member.name,
                "role": member.role,
                "team": teams.get(member.team_id) if member.team_id else None,
                "status": member.status,
                "created_at": member.created_at.isoformat(),
                "keys": keys,
                "admin_tokens": [
                    {
                        "id": t.id,
                        "display": t.display,
                        "role": t.role or member.role,
                        "created_at": t.created_at.isoformat(),
                        "expires_at": _iso(t.expires_at),
                        "revoked_at": _iso(t.revoked_at),
                    }
                    for t in tokens_by_member.get(member.id, [])
                ],
            }
        )
    return {
        "controls": ["CC6.1", "CC6.2", "CC6.3"],
        "as_of": as_of.isoformat(),
        "stale_days": stale_days,
        "members": reviewed,
    }


def _joiners_leavers(session: Session, names: dict[str, str], period: Period) -> list[dict[str, Any]]:
    revocations = _in_period(session, period, KEY_REVOCATIONS)
    out = []
    for row in _in_period(session, period, JOINER_LEAVER):
        event = _event(row, names)
        event["member"] = _who(row.target, names)
        if row.action in DEPROVISIONING and row.outcome == "ok":
            # The record is the moment the change committed: from then on the member's keys are refused.
            event["keys_refused_at"] = row.at.isoformat()
            event["seconds_to_key_refusal"] = 0
            event["later_key_revocations"] = [
                {
                    "key": r.target,
                    "action": r.action,
                    "at": r.at.isoformat(),
                    "seconds_after": int((r.at - row.at).total_seconds()),
                }
                for r in revocations
                if r.outcome == "ok" and r.details.get("member") == row.target and r.seq > row.seq
            ]
        out.append(event)
    return out


def _monitoring(session: Session, names: dict[str, str], period: Period) -> dict[str, Any]:
    refused = Counter(
        session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.at >= period.since, AuditEvent.at < period.until, AuditEvent.outcome == "refused"
            )
        ).all()
    )
    events = _in_period(session, period, MONITORING_ACTIONS, MONITORING_PREFIXES)
    return {
        "controls": ["CC7.2"],
        "events": [_event(row, names) for row in events],
        "counts": dict(sorted(Counter(row.action for row in events).items())),
        "refused_changes": dict(sorted(refused.items())),
    }
