"""Detectors for secrets and personal data, as data-driven rules shared by privacy/ and scanner/."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "interface",
    "names",
    "normalise",
    "pii",
    "pii_rules",
    "secrets",
]
