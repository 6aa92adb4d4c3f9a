"""Rate limits, concurrency and budgets per key, member and team; memory and Redis backends."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "admission",
    "interface",
    "memory",
    "rules",
    "shared",
]
