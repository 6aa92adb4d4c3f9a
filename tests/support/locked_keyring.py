"""A keyring backend that is there but locked, as a Secret Service collection the user would not unlock.

Selected with ``PYTHON_KEYRING_BACKEND=tests.support.locked_keyring.LockedKeyring`` (keyring's own
mechanism), in this process or a child one.
"""

from __future__ import annotations

from typing import Any

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked


class LockedKeyring(KeyringBackend):
    """Every operation fails the way a locked keyring does."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    def get_credential(self, service: str, username: str | None) -> Any:
        raise KeyringLocked("Failed to unlock the collection!")
