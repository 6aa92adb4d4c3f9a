"""Appending to and reading the audit log inside the caller's transaction.

Fail closed: the audit record is written in the same transaction as the change it
describes, so a change that cannot be audited is rolled back with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from vaultgate.audit.chain import GENESIS, AuditRecord, record_hash
from vaultgate.store.models import AuditEvent

# Any constant works; it names the advisory lock that serialises chain appends on PostgreSQL.
_CHAIN_LOCK = 0x7661756C74


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Chain one record onto the log in ``session``'s transaction."""
    if at.tzinfo is not None:
        # SQLite keeps the wall-clock time and drops the offset: store the instant in UTC
        # so the value read back is the one that was hashed.
        at = at.astimezone(UTC)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    record = AuditRecord(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        details=details or {},
        prev_hash=prev,
    )
    digest = record_hash(record)
    session.add(
        AuditEvent(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            target=target,
            outcome=outcome,
            details=record.details,
            prev_hash=prev,
            hash=digest,
        )
    )
    session.flush()
    return AuditRecord(**{**_fields(record), "hash": digest})


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in AuditRecord.__dataclass_fields__}


def records(session: Session, batch: int = 1000) -> Iterator[AuditRecord]:
    """Every record in chain order, read in batches."""
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield AuditRecord(
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                outcome=row.outcome,
                details=row.details,
                prev_hash=row.prev_hash,
                hash=row.hash,
            )
        after = rows[-1].seq
