"""Token formats, minting, checksums and keyed hashing of vaultgate credentials."""
