"""Token formats, minting, checksums and keyed hashing of vaultgate credentials."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "hashing",
    "tokens",
]
