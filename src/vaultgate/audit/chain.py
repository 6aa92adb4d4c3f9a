"""The audit hash chain: each record's hash covers its fields and the previous record's hash.

Changing, deleting or reordering any record breaks every hash after it, which
:func:`verify` detects. The chain starts from ``GENESIS``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit event as chained: what happened, who did it, to what, and the outcome."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str = ""


def record_hash(record: AuditRecord) -> str:
    """SHA-256 over the canonical JSON of the record's fields and its predecessor's hash."""
    canonical = orjson.dumps(
        {
            "seq": record.seq,
            "at": record.at.astimezone(UTC).isoformat(),
            "actor": record.actor,
            "action": record.action,
            "target": record.target,
            "outcome": record.outcome,
            "details": record.details,
            "prev": record.prev_hash,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where and why verification failed."""

    seq: int
    reason: str


def verify(records: Iterable[AuditRecord]) -> ChainBreak | None:
    """The first break in the chain, or None when every record links and hashes correctly."""
    prev = GENESIS
    expected_seq: int | None = None
    for record in records:
        if expected_seq is not None and record.seq != expected_seq:
            return ChainBreak(record.seq, f"sequence gap: expected {expected_seq}")
        if record.prev_hash != prev:
            return ChainBreak(record.seq, "link to the previous record is broken")
        if record_hash(record) != record.hash:
            return ChainBreak(record.seq, "record content does not match its hash")
        prev = record.hash
        expected_seq = record.seq + 1
    return None
