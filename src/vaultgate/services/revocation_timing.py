"""The audited time to effective revocation: which deprovisionings a SCIM call made, and the record that says
when the replica that took the call stopped honouring the leaver's credentials.

``identity.deprovision`` records carry ``requested_at`` (when the provider's call arrived); the replica
that took the call appends ``identity.revocation_effective`` (target: the member id; details:
``elapsed_ms`` from the call's arrival to the swap of its own snapshot to a revision without the member's
keys, ``replica``, ``revision``; or outcome ``timeout`` when no such swap came in time). See
identity/revocation.py for the measurement.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from vaultgate.services.context import Actor, ControlPlane, Role
from vaultgate.store.models import AuditEvent

ACTION = "identity.revocation_effective"
# The actor of the measurement: the replica itself (as for the data plane's own audit records).
REPLICA = Actor(name="gateway", role=Role.OWNER)


def deprovisions_between(cp: ControlPlane, start: datetime, end: datetime) -> list[tuple[int, str]]:
    """(audit seq, member id) of the ``identity.deprovision`` records whose call arrived within [start, end]."""
    with cp.store.session() as session:
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.target, AuditEvent.details)
            .where(AuditEvent.action == "identity.deprovision", AuditEvent.outcome == "ok", AuditEvent.at >= start)
            .order_by(AuditEvent.seq)
        ).all()
    found: list[tuple[int, str]] = []
    for row in rows:
        seq, target, details = row.seq, row.target, row.details
        raw = details.get("requested_at") if isinstance(details, dict) else None
        try:
            requested = datetime.fromisoformat(str(raw))
        except ValueError:
            continue
        if target and start <= requested <= end:
            found.append((seq, target))
    return found


def record_effective(
    cp: ControlPlane, member_id: str, *, elapsed_ms: float, replica: str, revision: int, timed_out: bool = False
) -> None:
    """Append ``identity.revocation_effective`` for ``member_id`` (outcome ``timeout`` when the swap never came
    within the wait: ``elapsed_ms`` is then how long it waited)."""
    with cp.store.session() as session:
        cp.audit(
            session,
            REPLICA,
            ACTION,
            member_id,
            outcome="timeout" if timed_out else "ok",
            elapsed_ms=round(elapsed_ms, 1),
            replica=replica,
            revision=revision,
        )
