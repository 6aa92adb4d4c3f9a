"""Provider credentials an upstream refused, so that they are skipped instead of tried on every request.

A credential is remembered by its provider's name and a fingerprint (a SHA-256 of the key, held
only in this process's memory): the mark holds until the provider's credential in the snapshot
changes (rotated by an admin), then the new one is tried. Per process, like the breakers.
"""

from __future__ import annotations

import hashlib
import logging

from vaultgate.upstream.config import ProviderConfig

log = logging.getLogger("vaultgate.upstream")


def fingerprint(provider: ProviderConfig) -> str:
    """A value that changes when the provider's credential does, and tells nothing about it."""
    key = provider.api_key or ""
    return hashlib.sha256(b"vaultgate refused credential\x00" + key.encode()).hexdigest()


class RefusedCredentials:
    """Marks by provider name; created at start-up and passed in."""

    def __init__(self) -> None:
        self._marks: dict[str, str] = {}

    def refused(self, provider: ProviderConfig) -> bool:
        """Whether ``provider``'s current credential was refused (False again once it changed)."""
        mark = self._marks.get(provider.name)
        if mark is None:
            return False
        if mark == fingerprint(provider):
            return True
        del self._marks[provider.name]
        log.warning("provider %r has a new credential: sending it traffic again", provider.name)
        return False

    def mark(self, provider: ProviderConfig) -> bool:
        """Remember that ``provider``'s credential was refused; True the first time (to alert once)."""
        mark = fingerprint(provider)
        if self._marks.get(provider.name) == mark:
            return False
        self._marks[provider.name] = mark
        log.warning("provider %r refused vaultgate's credential: skipped until an admin rotates it", provider.name)
        return True
