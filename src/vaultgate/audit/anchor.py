"""Anchors: the signed head of the chain, kept outside the database (a file, a webhook, WORM storage).

An anchor is one JSON object ``{seq, head, at, key_id, public_key, signature}``: the signature covers
``{seq, head, at, key_id}`` (:mod:`vaultgate.audit.signed_head`), and ``public_key`` (base64 Ed25519)
lets anyone check it; a verifier should trust a key it holds itself, not the one a file carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from vaultgate.audit.signed_head import SignedHead
from vaultgate.vault import VerifyKey

FIELDS = ("seq", "head", "at", "key_id", "public_key", "signature")


class AnchorFormatError(ValueError):
    """The text is not an anchor (not JSON, a field missing or of the wrong type)."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed head and the public key that signed it."""

    head: SignedHead
    public_key: str

    def to_json(self) -> dict[str, Any]:
        """The anchor as a JSON object."""
        return {
            "seq": self.head.seq,
            "head": self.head.head,
            "at": self.head.at.isoformat(),
            "key_id": self.head.key_id,
            "public_key": self.public_key,
            "signature": self.head.signature,
        }

    def to_bytes(self) -> bytes:
        """The anchor as written to a file (one JSON document and a newline)."""
        return orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2) + b"\n"


def parse(data: bytes) -> Anchor:
    """The anchor in ``data``; AnchorFormatError saying what is wrong otherwise."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise AnchorFormatError("not an anchor: the file is not JSON") from None
    if not isinstance(value, dict):
        raise AnchorFormatError("not an anchor: expected a JSON object")
    missing = [name for name in FIELDS if name not in value]
    if missing:
        raise AnchorFormatError(f"not an anchor: missing {', '.join(missing)}")
    seq = value["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise AnchorFormatError("not an anchor: 'seq' must be a positive whole number")
    for name in ("head", "at", "key_id", "public_key", "signature"):
        if not isinstance(value[name], str):
            raise AnchorFormatError(f"not an anchor: {name!r} must be a string")
    try:
        at = datetime.fromisoformat(value["at"])
    except ValueError:
        raise AnchorFormatError("not an anchor: 'at' is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise AnchorFormatError("not an anchor: 'at' has no time zone")
    try:
        VerifyKey.from_text(value["public_key"])
    except ValueError as exc:
        raise AnchorFormatError(f"not an anchor: 'public_key' is {exc}") from None
    head = SignedHead(seq, value["head"], at, value["key_id"], value["signature"])
    return Anchor(head, value["public_key"])
