"""Usage accounting: metadata of every request (tokens, status, latency), never content."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "events",
    "pricing",
    "recorder",
    "spool",
]
