"""Privacy: request hygiene now; PII and secret redaction/restoration build on it. Never persists content."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "errors",
    "guard",
    "hygiene",
    "modes",
    "placeholders",
    "restore",
]
