"""Upgrading the schema: ``vaultgate migrate`` is the one command that changes it on an existing database.

``serve`` (and the in-process gateway) refuse a schema behind or ahead of this vaultgate's, so
an upgrade is an operator's step: back up, migrate once, then roll the replicas (docs/BACKUP.md).
A migration and its audit record commit in one transaction; the record is keyed like every other
(the chain's MAC key is opened from the vault first, so ``migrate`` needs the master key).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from vaultgate.audit import log as audit_log
from vaultgate.audit.signed_head import CheckpointPolicy
from vaultgate.config import Settings
from vaultgate.services import audit_keys
from vaultgate.services.bootstrap import checkpoint_policy, master_key_source, open_store
from vaultgate.services.context import LOCAL_OPERATOR, utcnow
from vaultgate.store import migrate as schema
from vaultgate.store.db import Store
from vaultgate.vault import Vault


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """The database's revision, this vaultgate's, the migrations between them, and whether they ran."""

    database: str
    current: str | None
    head: str
    pending: tuple[str, ...]
    applied: bool = False


def audited(
    store: Store, vault: Vault, policy: CheckpointPolicy, action: str, target: str | None, **details: Any
) -> schema.Step:
    """A step for :func:`vaultgate.store.migrate.upgrade`: chain a keyed audit record (with a checkpoint when
    one is due) and tell replicas to reload, in the migration's own transaction."""

    def record(conn: Connection) -> None:
        session = Session(bind=conn)  # joins the migration's transaction; closing it neither commits nor rolls back
        try:
            keys = audit_keys.in_transaction(session, vault)
            audit_log.append(
                session,
                keys.mac_key,
                at=utcnow(),
                actor=LOCAL_OPERATOR.name,
                action=action,
                target=target,
                details=details,
                checkpoints=audit_log.Checkpointing(policy, keys.signing_key),
            )
            store.notify_change(session)
        finally:
            session.close()

    return record


def migrate(settings: Settings, *, dry_run: bool = False) -> MigrationPlan:
    """Apply the pending migrations (none with ``dry_run``); SchemaMismatch for a schema from a newer vaultgate."""
    store = open_store(settings)
    try:
        found = schema.state(store)
        if found.ahead:
            raise schema.mismatch(found)
        plan = MigrationPlan(store.dialect, found.current, found.head, found.pending)
        if dry_run or not found.pending:
            return plan
        if found.current is None:  # no schema at all: nothing to audit yet (`init` writes the first record)
            schema.upgrade(store)
            return replace(plan, applied=True)
        policy = checkpoint_policy(settings)
        details = {"from_revision": found.current, "to_revision": found.head}
        step = audited(store, Vault(master_key_source(settings)), policy, "vaultgate.migrate", found.head, **details)
        schema.upgrade(store, then=step)
        return replace(plan, applied=True)
    finally:
        store.dispose()
