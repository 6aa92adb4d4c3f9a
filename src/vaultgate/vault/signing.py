"""Ed25519 signatures for evidence that leaves the database: audit checkpoints, anchors, bundles.

The private key is 32 random bytes sealed in the vault like any other secret; the public key
travels with what it signed, and its ``key_id`` (SHA-256 of the raw public key, hex) lets a
verifier pin the key it trusts instead of the one a forger would attach.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """A public key that checks signatures."""

    raw: bytes

    @classmethod
    def from_text(cls, text: str) -> VerifyKey:
        """From the base64 form :attr:`text` gives; ValueError for anything that is not an Ed25519 key."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not a base64 Ed25519 public key") from None
        if len(raw) != 32:
            raise ValueError("not a base64 Ed25519 public key (32 bytes)")
        return cls(raw)

    @property
    def text(self) -> str:
        """The raw public key, base64."""
        return base64.b64encode(self.raw).decode("ascii")

    @property
    def key_id(self) -> str:
        """SHA-256 of the raw public key, hex: how records name the key that signed them."""
        return hashlib.sha256(self.raw).hexdigest()

    def verify(self, data: bytes, signature: str) -> bool:
        """Whether ``signature`` (base64) is this key's signature of ``data``."""
        try:
            sig = base64.b64decode(signature, validate=True)
            Ed25519PublicKey.from_public_bytes(self.raw).verify(sig, data)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key that signs; never printed (``repr`` hides it)."""

    raw: bytes = field(repr=False)

    @classmethod
    def generate(cls) -> SigningKey:
        """A new random key."""
        key = Ed25519PrivateKey.generate()
        return cls(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))

    @property
    def verify_key(self) -> VerifyKey:
        """The matching public key."""
        public = Ed25519PrivateKey.from_private_bytes(self.raw).public_key()
        return VerifyKey(public.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, data: bytes) -> str:
        """The signature of ``data``, base64."""
        signature = Ed25519PrivateKey.from_private_bytes(self.raw).sign(data)
        return base64.b64encode(signature).decode("ascii")
