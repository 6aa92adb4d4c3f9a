"""Appending to and reading the audit log inside the caller's transaction.

Fail closed: the audit record is written in the same transaction as the change it
describes, so a change that cannot be audited is rolled back with it. A signed checkpoint
is written in the transaction of the append that crosses its threshold.

Reading never trusts the table: a row that cannot be read as a record (details that are not
JSON, a NULL hash, a time that is not a time) comes back as a :class:`CorruptRecord` naming its
seq, so verification reports it instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, String, Text, bindparam, cast, column, func, inspect, select, table, text, type_coerce
from sqlalchemy.orm import Session

from vaultgate.audit import signed_head
from vaultgate.audit.chain import GENESIS, AuditRecord, CorruptRecord, SeqOfHash, record_hash, seal
from vaultgate.audit.signed_head import CheckpointPolicy, SignedHead
from vaultgate.store.models import AuditCheckpoint, AuditEvent
from vaultgate.vault import SigningKey

# Any constant works; it names the advisory lock that serialises chain appends on PostgreSQL.
_CHAIN_LOCK = 0x7661756C74


@dataclass(frozen=True, slots=True)
class Checkpointing:
    """When to write signed checkpoints, and the key that signs them."""

    policy: CheckpointPolicy
    signing_key: SigningKey = field(repr=False)


def append(
    session: Session,
    mac_key: bytes,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
    checkpoints: Checkpointing | None = None,
) -> AuditRecord:
    """Chain one keyed record onto the log in ``session``'s transaction (and a checkpoint when one is due)."""
    record = seal(_linked(session, at, actor, action, target, outcome, details), mac_key)
    seq, at, prev = record.seq, record.at, record.prev_hash
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
            hash=record.hash,
            alg=record.alg,
        )
    )
    if checkpoints is not None and _checkpoint_due(session, checkpoints.policy, seq, at):
        head = signed_head.sign(seq, record.hash, at, checkpoints.signing_key)
        session.add(AuditCheckpoint(seq=seq, at=at, head=head.head, key_id=head.key_id, signature=head.signature))
    session.flush()
    return record


def _linked(
    session: Session,
    at: datetime,
    actor: str,
    action: str,
    target: str | None,
    outcome: str,
    details: dict[str, Any] | None,
) -> AuditRecord:
    """The next record, linked to the last one (its hash not set yet); on PostgreSQL the chain is locked
    until the transaction ends, so concurrent appends line up."""
    if at.tzinfo is not None:
        # SQLite keeps the wall-clock time and drops the offset: store the instant in UTC
        # so the value read back is the one that was hashed.
        at = at.astimezone(UTC)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    return AuditRecord(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        details=details or {},
        prev_hash=prev,
    )


def has_keyed_schema(session: Session) -> bool:
    """Whether the audit table can hold keyed records (schema 0005 or later)."""
    return any(c["name"] == "alg" for c in inspect(session.connection()).get_columns(AuditEvent.__tablename__))


_UNKEYED_COLUMNS = ("seq", "at", "actor", "action", "target", "outcome", "details", "prev_hash", "hash")


def append_unkeyed(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Chain a plain SHA-256 record onto a table from before the chain was keyed (``backup`` of a database
    not migrated yet): such a table holds only plain records, and the migration that follows appends a
    keyed record whose MAC covers this one's hash."""
    record = _linked(session, at, actor, action, target, outcome, details)
    seq, at, prev = record.seq, record.at, record.prev_hash
    digest = record_hash(record)
    legacy = table(AuditEvent.__tablename__, *(column(name) for name in _UNKEYED_COLUMNS))
    session.execute(
        legacy.insert().values(
            seq=seq,
            at=bindparam("at", at, type_=AuditEvent.__table__.c.at.type),
            actor=actor,
            action=action,
            target=target,
            outcome=outcome,
            details=bindparam("details", record.details, type_=AuditEvent.__table__.c.details.type),
            prev_hash=prev,
            hash=digest,
        )
    )
    return replace(record, hash=digest)


def _checkpoint_due(session: Session, policy: CheckpointPolicy, seq: int, at: datetime) -> bool:
    last = session.execute(
        select(AuditCheckpoint.seq, AuditCheckpoint.at).order_by(AuditCheckpoint.seq.desc()).limit(1)
    ).first()
    if last is not None:
        return policy.due(seq, at, last[0], last[1])
    first_at = at if seq == 1 else session.scalar(select(AuditEvent.at).order_by(AuditEvent.seq).limit(1))
    return policy.due(seq, at, 0, first_at)


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records to read (all by default): a time range (``until`` exclusive), actor, actions, target,
    and only those after a seq (paging)."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    actions: Sequence[str] = ()
    target: str | None = None
    after: int = 0


def records(
    session: Session, batch: int = 1000, where: RecordFilter | None = None
) -> Iterator[AuditRecord | CorruptRecord]:
    """Every record (or those ``where`` selects) in chain order, read in batches."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    # Raw text for the columns a tampered row can make unreadable: details (JSON) and, on SQLite, the time.
    at_column = type_coerce(AuditEvent.at, String) if sqlite else AuditEvent.at
    query: Select[*tuple[Any, ...]] = select(
        AuditEvent.seq,
        at_column,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.target,
        AuditEvent.outcome,
        cast(AuditEvent.details, Text),
        AuditEvent.prev_hash,
        AuditEvent.hash,
        AuditEvent.alg,
    )
    if where is not None:
        query = _filtered(query, where)
    after = where.after if where is not None else 0
    while True:
        page = query.where(AuditEvent.seq > after) if after else query
        rows = session.execute(page.order_by(AuditEvent.seq).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield _record(tuple(row))
        after = rows[-1][0]


def _filtered(query: Select[*tuple[Any, ...]], where: RecordFilter) -> Select[*tuple[Any, ...]]:
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    if where.actor is not None:
        query = query.where(AuditEvent.actor == where.actor)
    if where.actions:
        query = query.where(AuditEvent.action.in_(list(where.actions)))
    if where.target is not None:
        query = query.where(AuditEvent.target == where.target)
    return query


def _record(row: tuple[Any, ...]) -> AuditRecord | CorruptRecord:
    seq, at, actor, action, target, outcome, details_text, prev_hash, digest, alg = row
    for name, value in (("hash", digest), ("prev_hash", prev_hash), ("actor", actor), ("action", action)):
        if value is None:
            return CorruptRecord(seq, f"{name} is missing (NULL)")
    if outcome is None or alg is None:
        return CorruptRecord(seq, f"{'outcome' if outcome is None else 'alg'} is missing (NULL)")
    when = _instant(at)
    if when is None:
        return CorruptRecord(seq, f"time {str(at)[:40]!r} is not a timestamp")
    try:
        details = json.loads(details_text) if details_text is not None else None
    except ValueError:
        return CorruptRecord(seq, "details are not valid JSON")
    if not isinstance(details, dict):
        return CorruptRecord(seq, "details are not a JSON object")
    return AuditRecord(seq, when, actor, action, target, outcome, details, prev_hash, digest, alg)


def _instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def head(session: Session) -> tuple[int, str, datetime] | None:
    """The last record's (seq, hash, time), or None for an empty log."""
    row = session.execute(
        select(AuditEvent.seq, AuditEvent.hash, AuditEvent.at).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def last_seq(session: Session) -> int:
    """The highest seq in the log (0 when it is empty)."""
    return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)


def checkpoints(session: Session) -> list[SignedHead]:
    """Every stored checkpoint, oldest first."""
    rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()
    return [SignedHead(r.seq, r.head, r.at, r.key_id, r.signature) for r in rows]


def seq_of_hash(session: Session) -> SeqOfHash:
    """A lookup of the seq of the record with a given hash (to explain a broken link)."""

    def lookup(digest: str) -> int | None:
        return session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == digest).limit(1))

    return lookup
