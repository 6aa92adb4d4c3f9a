"""The vault: master keys and envelope encryption. Provider secrets are decrypted only here."""

from vaultgate.vault.envelope import Vault
from vaultgate.vault.errors import MasterKeyError, SealError, VaultError
from vaultgate.vault.masterkey import Keyring, MasterKey

__all__ = ["Keyring", "MasterKey", "MasterKeyError", "SealError", "Vault", "VaultError"]
