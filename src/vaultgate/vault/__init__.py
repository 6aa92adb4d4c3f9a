"""The vault: master keys and envelope encryption. Provider secrets are decrypted only here."""

from vaultgate.vault.envelope import Vault
from vaultgate.vault.errors import MasterKeyError, SealError, VaultError
from vaultgate.vault.masterkey import Keyring, MasterKey
from vaultgate.vault.signing import SigningKey, VerifyKey

# Public: the names re-exported here and these modules (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "Keyring",
    "MasterKey",
    "MasterKeyError",
    "SealError",
    "SigningKey",
    "Vault",
    "VaultError",
    "VerifyKey",
    "masterkey",
]
