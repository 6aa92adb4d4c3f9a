"""Signed heads of the audit chain: checkpoints stored beside it, anchors kept outside the database.

A signed head says "record ``seq`` had hash ``head`` at ``at``", signed with the audit Ed25519 key
(sealed in the vault) over the canonical JSON of ``{seq, head, at, key_id}``. Anyone with the public
key can check it; someone who can only write the database cannot make one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from vaultgate.vault import SigningKey, VerifyKey


@dataclass(frozen=True, slots=True)
class SignedHead:
    """Record ``seq`` had hash ``head``; ``signature`` (base64 Ed25519) by the key ``key_id`` names."""

    seq: int
    head: str
    at: datetime
    key_id: str
    signature: str


def canonical(seq: int, head: str, at: datetime, key_id: str) -> bytes:
    """The bytes a signed head's signature covers."""
    fields = {"seq": seq, "head": head, "at": at.astimezone(UTC).isoformat(), "key_id": key_id}
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def sign(seq: int, head: str, at: datetime, key: SigningKey) -> SignedHead:
    """Sign the head ``(seq, head)`` at ``at``."""
    key_id = key.verify_key.key_id
    return SignedHead(seq, head, at, key_id, key.sign(canonical(seq, head, at, key_id)))


def signature_ok(signed: SignedHead, key: VerifyKey) -> bool:
    """Whether ``key`` signed exactly this head (and is the key the head names)."""
    if signed.key_id != key.key_id:
        return False
    return key.verify(canonical(signed.seq, signed.head, signed.at, signed.key_id), signed.signature)


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """Write a checkpoint every ``records`` records, or on the first append ``minutes`` after the last one."""

    records: int = 100
    minutes: int = 60

    def due(self, seq: int, at: datetime, last_seq: int, last_at: datetime | None) -> bool:
        """Whether appending record ``seq`` at ``at`` crosses a threshold since the last checkpoint
        (``last_seq`` 0 and ``last_at`` the chain's first record's time when there is none yet)."""
        if seq - last_seq >= self.records:
            return True
        return last_at is not None and at - last_at >= timedelta(minutes=self.minutes)
