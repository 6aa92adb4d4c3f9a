"""The audit trail's own secrets, sealed in the vault: the chain's MAC key and the signing key.

Anyone who can write the database could recompute a plain hash chain; a keyed MAC needs the
vault (the master key) to forge. Checkpoints, anchors and evidence bundles are signed with an
Ed25519 key sealed the same way, so they can be checked outside vaultgate with only the public key.

Both are made by ``init`` and, for a database initialised before they existed, by the first
process that opens the control plane (two at once: one insert wins, the other reads it).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vaultgate.store.db import Store
from vaultgate.store.models import VaultSecret
from vaultgate.vault import SigningKey, Vault

AUDIT_MAC_KEY = "audit_mac_key"
AUDIT_SIGNING_KEY = "audit_signing_key"


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """The MAC key that chains records and the key that signs checkpoints and bundles."""

    mac_key: bytes = field(repr=False)
    signing_key: SigningKey = field(repr=False)


def load_or_create(store: Store, vault: Vault) -> AuditKeys:
    """The sealed audit keys, made (once, race-free) where a database has none yet."""
    mac_key = _secret(store, vault, AUDIT_MAC_KEY, lambda: secrets.token_bytes(32))
    signing = _secret(store, vault, AUDIT_SIGNING_KEY, lambda: SigningKey.generate().raw)
    return AuditKeys(mac_key=mac_key, signing_key=SigningKey(signing))


def in_transaction(session: Session, vault: Vault) -> AuditKeys:
    """The sealed audit keys read (or made) in the caller's transaction: for a migration or a restore, which
    hold the database (SQLite: its write lock) while they write their audit record."""

    def secret(name: str, make: Callable[[], bytes]) -> bytes:
        row = session.get(VaultSecret, name)
        if row is not None:
            return vault.open(name, row.sealed)
        value = make()
        session.add(VaultSecret(name=name, sealed=vault.seal(name, value)))
        session.flush()
        return value

    mac_key = secret(AUDIT_MAC_KEY, lambda: secrets.token_bytes(32))
    signing = secret(AUDIT_SIGNING_KEY, lambda: SigningKey.generate().raw)
    return AuditKeys(mac_key=mac_key, signing_key=SigningKey(signing))


def _secret(store: Store, vault: Vault, name: str, make: Callable[[], bytes]) -> bytes:
    with store.session() as session:
        row = session.get(VaultSecret, name)
        if row is not None:
            return vault.open(name, row.sealed)
    value = make()
    try:
        with store.session() as session:
            session.add(VaultSecret(name=name, sealed=vault.seal(name, value)))
    except IntegrityError:  # another process made it first: use theirs
        with store.session() as session:
            row = session.get(VaultSecret, name)
            assert row is not None
            return vault.open(name, row.sealed)
    return value
