"""Reading the audit log: verification of the hash chain and export.

The chain can only be verified whole, so reading it is all or nothing: owners, organisation
admins and auditors (``access.require_audit_reader``); team admins and members read none of it.
"""

from __future__ import annotations

from collections.abc import Iterator

from vaultgate.audit import chain
from vaultgate.audit import log as audit_log
from vaultgate.services import access
from vaultgate.services.context import Actor, ControlPlane


def verify(cp: ControlPlane, actor: Actor) -> tuple[int, chain.ChainBreak | None]:
    """(records checked, first break or None)."""
    access.require_audit_reader(actor)
    with cp.store.session() as session:
        count = 0

        def counted() -> Iterator[chain.AuditRecord]:
            nonlocal count
            for record in audit_log.records(session):
                count += 1
                yield record

        broken = chain.verify(counted())
    return count, broken


def export(cp: ControlPlane, actor: Actor) -> Iterator[chain.AuditRecord]:
    """Every record in chain order."""
    access.require_audit_reader(actor)
    with cp.store.session() as session:
        yield from audit_log.records(session)
