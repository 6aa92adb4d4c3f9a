"""The ``vaultgate`` command: parses arguments, calls services, prints results. No business logic."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "main",
    "scan",
]
