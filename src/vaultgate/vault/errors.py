"""Vault errors.

VaultError
├── MasterKeyError   no usable master key (missing, malformed, unsafe file mode)
└── SealError        a sealed value cannot be opened (wrong key, tampered, wrong record)
"""


class VaultError(Exception):
    """Base of every vault failure."""


class MasterKeyError(VaultError):
    """The master key is missing, malformed, or stored unsafely."""


class SealError(VaultError):
    """A sealed value could not be opened; deliberately says nothing more."""
