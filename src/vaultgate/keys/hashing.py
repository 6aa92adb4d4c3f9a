"""Keyed hashing of tokens: only ``HMAC-SHA256(token hashing key, token)`` is ever stored.

The token hashing key is a random 256-bit secret held in the vault (sealed under the
master key), so rotating the master key does not invalidate any member key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TokenHasher:
    """Computes the keyed hashes used to look up and pseudonymise identities."""

    key: bytes = field(repr=False)

    def token_hash(self, token: str) -> str:
        """The stored lookup hash of a token (hex)."""
        return hmac.new(self.key, b"token:" + token.encode("ascii", "replace"), hashlib.sha256).hexdigest()

    def pseudonym(self, purpose: str, value: str, length: int = 64) -> str:
        """A stable keyed pseudonym of ``value`` for ``purpose`` (hex, at most ``length`` chars)."""
        mac = hmac.new(self.key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()
        return mac[:length]


def fingerprint(token: str) -> str:
    """Unkeyed SHA-256 of a token, the form leak reports use (safe: tokens carry 190 bits)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets or hashes."""
    return hmac.compare_digest(a.encode(), b.encode())
