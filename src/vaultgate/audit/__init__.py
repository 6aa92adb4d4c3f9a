"""The audit trail: records chained with a keyed MAC, signed checkpoints and anchors; metadata and ids only,
never secrets, content or personal data."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "anchor",
    "chain",
    "log",
    "signed_head",
]
