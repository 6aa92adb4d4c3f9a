"""Signing and checking evidence bundles: ``{"bundle", "signature", "key_id", "public_key"}``.

The signature is Ed25519 over the canonical JSON of ``bundle`` (orjson, keys sorted, no
whitespace), so a bundle can be re-serialised, pretty-printed or moved between systems and
still checks, while a change to any value does not. The public key travels with the bundle;
a verifier that trusts only a key it got out of band pins it (``--public-key``), since anyone
can attach a key of their own to a forged bundle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from vaultgate.services.errors import InvalidInput
from vaultgate.vault import SigningKey, VerifyKey

FIELDS = frozenset({"bundle", "signature", "key_id", "public_key"})


def canonical(bundle: Mapping[str, Any]) -> bytes:
    """The bytes a bundle's signature covers."""
    return orjson.dumps(bundle, option=orjson.OPT_SORT_KEYS)


def sign(bundle: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """The signed document for ``bundle``."""
    verify_key = key.verify_key
    return {
        "bundle": bundle,
        "signature": key.sign(canonical(bundle)),
        "key_id": verify_key.key_id,
        "public_key": verify_key.text,
    }


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """The outcome of checking a bundle: whether it holds, and a sentence saying why (not)."""

    ok: bool
    message: str
    key_id: str
    pinned: bool


def _parse(data: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise InvalidInput("not an evidence bundle: the file is not JSON") from None
    if not isinstance(doc, dict) or set(doc) != FIELDS:
        raise InvalidInput("not an evidence bundle: expected exactly bundle, signature, key_id and public_key")
    if not isinstance(doc["bundle"], dict) or not all(isinstance(doc[f], str) for f in FIELDS - {"bundle"}):
        raise InvalidInput("not an evidence bundle: bundle must be an object, the other fields strings")
    return doc


def check(data: bytes, public_key: str | None = None) -> BundleCheck:
    """Check a bundle's signature, with the pinned ``public_key`` if given, else the bundle's own key.

    InvalidInput for something that is not a bundle (or a pinned key that is not a key); a
    BundleCheck with ``ok`` False and the precise reason for a bundle that does not hold.
    """
    doc = _parse(data)
    if public_key is not None:
        try:
            key = VerifyKey.from_text(public_key)
        except ValueError as exc:
            raise InvalidInput(f"invalid --public-key: {exc}") from None
    else:
        try:
            key = VerifyKey.from_text(doc["public_key"])
        except ValueError:
            return BundleCheck(False, "the bundle's public_key is not an Ed25519 public key", doc["key_id"], False)
        if key.key_id != doc["key_id"]:
            return BundleCheck(
                False, "the bundle's key_id does not match its public_key: the key was swapped", doc["key_id"], False
            )
    pinned = public_key is not None
    if pinned and key.key_id != doc["key_id"]:
        return BundleCheck(
            False,
            f"signed by key {doc['key_id'][:16]}…, not by the pinned key {key.key_id[:16]}…",
            doc["key_id"],
            True,
        )
    if not key.verify(canonical(doc["bundle"]), doc["signature"]):
        return BundleCheck(
            False,
            f"the signature does not match the bundle: it was altered after signing (key {key.key_id[:16]}…)",
            key.key_id,
            pinned,
        )
    source = "the pinned key" if pinned else "the key the bundle carries (pin it with --public-key)"
    return BundleCheck(True, f"signature valid, checked with {source}: key id {key.key_id}", key.key_id, pinned)
