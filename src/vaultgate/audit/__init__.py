"""Hash-chained audit log: metadata and keyed hashes only, never secrets or content."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "chain",
    "log",
]
