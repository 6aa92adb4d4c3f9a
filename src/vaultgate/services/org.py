"""Organisation-wide settings: ``lockdown`` stops all API access on every replica within a second;
``policy`` is the ceiling every team and key is held under (none by default)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from vaultgate.policy.grants import KeyPolicy, PolicyError
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import Conflict, InvalidInput
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import OrgSetting

LOCKDOWN = "lockdown"
POLICY = "policy"


def lockdown_active(session: Session) -> bool:
    """Whether the organisation is in lockdown."""
    row = session.get(OrgSetting, LOCKDOWN)
    return bool(row is not None and row.value.get("on"))


@refusals_audited("org.lockdown")
def set_lockdown(cp: ControlPlane, actor: Actor, on: bool) -> bool:
    """Turn lockdown on or off; Conflict if it already is."""
    access.require_org_manager(actor, "turn lockdown on or off")
    with cp.store.session() as session:
        if lockdown_active(session) == on:
            raise Conflict(f"lockdown is already {'on' if on else 'off'}")
        row = session.get(OrgSetting, LOCKDOWN)
        if row is None:
            session.add(OrgSetting(name=LOCKDOWN, value={"on": on}))
        else:
            row.value = {"on": on}
        cp.audit(session, actor, "org.lockdown", "on" if on else "off")
        cp.store.notify_change(session)
    return on


def org_policy(session: Session) -> KeyPolicy | None:
    """The organisation's ceiling, or None when there is none; PolicyError if the stored value is unreadable."""
    row = session.get(OrgSetting, POLICY)
    return None if row is None else KeyPolicy.from_json(row.value)


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
