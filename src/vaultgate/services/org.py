"""Organisation-wide settings: ``lockdown`` stops all API access on every replica within a second;
``policy`` is the ceiling every team and key is held under (none by default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vaultgate.policy.effective import combine
from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import InvalidInput
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import AuditEvent, Member, OrgSetting

LOCKDOWN = "lockdown"
POLICY = "policy"


def lockdown_active(session: Session) -> bool:
    """Whether the organisation is in lockdown."""
    row = session.get(OrgSetting, LOCKDOWN)
    return bool(row is not None and row.value.get("on"))


@dataclass(frozen=True, slots=True)
class LockdownStatus:
    """Whether lockdown is on, whether the last call changed it, and who last turned it on or off (from the
    audit trail: the member id, or ``cli``; their current name when they are a member; None before any)."""

    on: bool
    changed: bool = False
    set_by: str | None = None
    set_by_name: str | None = None
    set_at: datetime | None = None


@refusals_audited("org.lockdown")
def set_lockdown(cp: ControlPlane, actor: Actor, on: bool) -> LockdownStatus:
    """Turn lockdown on or off. Idempotent: asking for the current state changes nothing and audits nothing
    (``changed`` is false)."""
    access.require_org_manager(actor, "turn lockdown on or off")
    with cp.store.session() as session:
        if lockdown_active(session) == on:
            return _status(session, on, changed=False)
        row = session.get(OrgSetting, LOCKDOWN)
        if row is None:
            session.add(OrgSetting(name=LOCKDOWN, value={"on": on}))
        else:
            row.value = {"on": on}
        cp.audit(session, actor, "org.lockdown", "on" if on else "off")
        cp.store.notify_change(session)
        return _status(session, on, changed=True)


def lockdown_status(cp: ControlPlane, actor: Actor) -> LockdownStatus:
    """Whether lockdown is on, and who set it when (owners, admins and auditors)."""
    access.require_org_reader(actor, "read the lockdown status")
    with cp.store.session() as session:
        return _status(session, lockdown_active(session), changed=False)


def _status(session: Session, on: bool, *, changed: bool) -> LockdownStatus:
    last = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "org.lockdown", AuditEvent.outcome == "ok")
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    if last is None:
        return LockdownStatus(on, changed)
    name = session.scalar(select(Member.name).where(Member.id == last.actor))
    return LockdownStatus(on, changed, last.actor, name, last.at)


def org_policy(session: Session) -> KeyPolicy | None:
    """The organisation's ceiling, or None when there is none; PolicyError if the stored value is unreadable."""
    row = session.get(OrgSetting, POLICY)
    return None if row is None else KeyPolicy.from_json(row.value)


def ceiling(session: Session, team_policy: dict[str, Any] | None) -> KeyPolicy | None:
    """A team's policy under the organisation's, combined (None: neither has one); PolicyError if unreadable.

    What every key of the team is held under (``services.keys`` shows it, ``members.update`` checks a move).
    """
    team = KeyPolicy.from_json(team_policy) if team_policy else None
    org = org_policy(session)
    if team is None:
        return org
    return combine(team, org)


def org_policy_json(cp: ControlPlane, actor: Actor) -> dict[str, Any] | None:
    """The organisation's ceiling as JSON (None: no restriction); any admin or auditor may read it."""
    access.require_policy_reader(actor)
    with cp.store.session() as session:
        row = session.get(OrgSetting, POLICY)
        return None if row is None else dict(row.value)


@refusals_audited("org.policy")
def set_org_policy(cp: ControlPlane, actor: Actor, policy: dict[str, Any] | None) -> dict[str, Any] | None:
    """Set (or with None remove) the ceiling every team and key of the organisation is held under."""
    access.require_org_manager(actor, "set the organisation policy")
    parsed = None
    if policy is not None:
        try:
            parsed = KeyPolicy.from_json(policy).to_json()
        except PolicyError as exc:
            raise InvalidInput(str(exc)) from None
    with cp.store.session() as session:
        row = session.get(OrgSetting, POLICY)
        if parsed is None:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(OrgSetting(name=POLICY, value=parsed))
        else:
            row.value = parsed
        cp.audit(session, actor, "org.policy", "cleared" if parsed is None else "set", policy=parsed)
        cp.store.notify_change(session)
    return parsed
