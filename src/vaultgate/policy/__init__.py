"""Authorization decisions: pure functions of (grant, request, now). No I/O here."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "decide",
    "effective",
    "grants",
    "ownership",
    "scopes",
]
