"""Hash-chained audit log: metadata and keyed hashes only, never secrets or content."""
