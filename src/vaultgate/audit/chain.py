"""The audit chain: each record's hash covers its fields and the previous record's hash.

New records are keyed: ``hash`` is HMAC-SHA256 under the audit MAC key sealed in the vault
(``alg = "hmac-sha256"``), so someone who can write the database but not open the vault cannot
recompute the chain after changing a record. Records written before the chain was keyed
(``alg = "sha256"``, plain SHA-256) are accepted only as a prefix: the first keyed record's MAC
covers the last plain hash, so rewriting the prefix breaks it, and a plain record after a keyed
one (or a chain whose last record is plain) is a rewrite. The chain starts from ``GENESIS``.

:func:`verify` names the first broken record and why; it is pure and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64
# The one break :func:`verify` infers rather than sees: a signed checkpoint or an anchor, where there is
# one, names the altered record more precisely (services/audit_trail.py prefers theirs).
UNKEYED_TAIL = "the chain ends in unkeyed records"
LEGACY_ALG = "sha256"
KEYED_ALG = "hmac-sha256"


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
    alg: str = LEGACY_ALG


@dataclass(frozen=True, slots=True)
class CorruptRecord:
    """A stored row that cannot be read as a record (unparseable details, a NULL hash...)."""

    seq: int
    reason: str


def _canonical(record: AuditRecord, *, keyed: bool) -> bytes:
    fields: dict[str, Any] = {
        "seq": record.seq,
        "at": record.at.astimezone(UTC).isoformat(),
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "outcome": record.outcome,
        "details": record.details,
        "prev": record.prev_hash,
    }
    if keyed:  # the MAC binds the algorithm too: a keyed record cannot be relabelled as a plain one
        fields["alg"] = KEYED_ALG
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def record_hash(record: AuditRecord) -> str:
    """Plain SHA-256 of the record (how records were chained before the chain was keyed)."""
    return hashlib.sha256(_canonical(record, keyed=False)).hexdigest()


def record_mac(record: AuditRecord, mac_key: bytes) -> str:
    """HMAC-SHA256 of the record under the audit MAC key (how every new record is chained)."""
    return hmac.new(mac_key, _canonical(record, keyed=True), hashlib.sha256).hexdigest()


def seal(record: AuditRecord, mac_key: bytes) -> AuditRecord:
    """The record with its keyed hash set."""
    keyed = replace(record, alg=KEYED_ALG)
    return replace(keyed, hash=record_mac(keyed, mac_key))


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """Where and why verification failed."""

    seq: int
    reason: str


# Looks up the seq of the record whose hash is given (None: no such record); used to explain a broken link.
SeqOfHash = Callable[[str], int | None]


def verify(
    records: Iterable[AuditRecord | CorruptRecord],
    mac_key: bytes,
    *,
    seq_of_hash: SeqOfHash | None = None,
) -> ChainBreak | None:
    """The first break in the chain, or None when every record links and hashes correctly."""
    prev = GENESIS
    prev_seq = 0
    expected_seq: int | None = None
    keyed_since: int | None = None
    first_plain_tail: int | None = None
    for record in records:
        if expected_seq is not None and record.seq != expected_seq:
            return _gap(expected_seq, record.seq)
        if expected_seq is None and record.seq != 1:
            return _gap(1, record.seq)
        if isinstance(record, CorruptRecord):
            return ChainBreak(record.seq, record.reason)
        if record.prev_hash != prev:
            return _broken_link(record, prev_seq, seq_of_hash)
        if record.alg == KEYED_ALG:
            if not hmac.compare_digest(record_mac(record, mac_key), record.hash):
                return ChainBreak(record.seq, "record content does not match its keyed hash (MAC)")
            keyed_since = keyed_since or record.seq
            first_plain_tail = None
        elif record.alg == LEGACY_ALG:
            if keyed_since is not None:
                return ChainBreak(record.seq, f"unkeyed record after the chain was keyed (at record {keyed_since})")
            if record_hash(record) != record.hash:
                return ChainBreak(record.seq, "record content does not match its hash")
            first_plain_tail = first_plain_tail or record.seq
        else:
            return ChainBreak(record.seq, f"unknown hash algorithm {record.alg!r}")
        prev, prev_seq = record.hash, record.seq
        expected_seq = record.seq + 1
    if first_plain_tail is not None:
        # Every record since the upgrade is keyed, so the newest one always is: an unkeyed tail
        # means the keyed records were removed or the chain was recomputed without the key.
        return ChainBreak(
            first_plain_tail,
            f"{UNKEYED_TAIL}: the keyed records after them were removed, or the chain was recomputed without the key",
        )
    return None


def _gap(expected: int, found: int) -> ChainBreak:
    if found > expected:
        missing = str(expected) if found == expected + 1 else f"{expected}..{found - 1}"
        noun = "record" if found == expected + 1 else "records"
        return ChainBreak(found, f"sequence gap: {noun} {missing} missing (expected {expected})")
    return ChainBreak(found, f"sequence out of order: expected {expected}")


def _broken_link(record: AuditRecord, prev_seq: int, seq_of_hash: SeqOfHash | None) -> ChainBreak:
    """Explain a link that does not point at the record before: a fork, a reordering, or an edit."""
    target = seq_of_hash(record.prev_hash) if seq_of_hash is not None and record.prev_hash != GENESIS else None
    if record.prev_hash == GENESIS and record.seq != 1:
        return ChainBreak(record.seq, "link to the previous record is broken: it claims to be the first record")
    if target is not None and target < prev_seq:
        return ChainBreak(
            record.seq,
            f"link to the previous record is broken: a fork, record {record.seq} claims record {target} "
            f"as its predecessor, which record {target + 1} already does",
        )
    if target is not None and target > record.seq:
        return ChainBreak(
            record.seq,
            f"link to the previous record is broken: records reordered, record {record.seq} links to "
            f"record {target}, which comes after it",
        )
    return ChainBreak(record.seq, f"link to the previous record is broken (record {prev_seq} was altered or replaced)")
