"""Master-key rotation: re-wrap every data key under a new master key, without downtime.

Order matters for running replicas: the key file first holds the new key *and* the old
one, then every sealed value is re-wrapped in one transaction, then the old key leaves
the file. A replica that meets a value wrapped by a key it does not know re-reads the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.errors import InvalidInput
from vaultgate.store.models import ProviderCredential, VaultSecret
from vaultgate.vault import Keyring, MasterKey, Vault
from vaultgate.vault.masterkey import write_key_file


@dataclass(frozen=True, slots=True)
class RotationResult:
    """How many sealed values were re-wrapped, and the ids of the old and new master keys."""

    rewrapped: int
    old_key_id: str
    new_key_id: str


def rotate_master(cp: ControlPlane) -> RotationResult:
    """Generate a new master key, re-wrap every sealed value, retire the old key."""
    source = cp.vault.source
    if not source.writable or source.file is None:
        raise InvalidInput(
            "the master key comes from VAULTGATE_MASTER_KEY: put the new key first and the old one "
            "second in that variable (comma-separated), then run 'vaultgate vault rewrap'"
        )
    old = cp.vault.keyring
    new = MasterKey.generate()
    write_key_file(source.file, Keyring((new, *old.keys)))
    cp.vault.reload()
    count = rewrap_all(cp)
    write_key_file(source.file, Keyring((new,)))
    cp.vault.reload()
    return RotationResult(count, old.primary.key_id, new.key_id)


def rewrap_all(cp: ControlPlane) -> int:
    """Re-wrap every sealed value under the vault's primary key, audited, in one transaction."""
    vault: Vault = cp.vault
    count = 0
    with cp.store.session() as session:
        for cred in session.scalars(select(ProviderCredential)).all():
            new = vault.rewrap(cred.id, cred.sealed)
            if new != cred.sealed:
                cred.sealed = new
                count += 1
        for secret in session.scalars(select(VaultSecret)).all():
            new = vault.rewrap(secret.name, secret.sealed)
            if new != secret.sealed:
                secret.sealed = new
                count += 1
        cp.audit(session, LOCAL_OPERATOR, "vault.rewrap", vault.keyring.primary.key_id, rewrapped=count)
    return count
