"""Organisation-wide switches: ``lockdown`` stops all API access on every replica within a second."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane
from vaultgate.services.errors import Conflict
from vaultgate.services.refusals import refusals_audited
from vaultgate.store.models import OrgSetting

LOCKDOWN = "lockdown"


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
