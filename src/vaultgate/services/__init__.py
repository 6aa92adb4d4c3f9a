"""The operations the CLI, admin API and console share. Never prints, exits or knows HTTP."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "access",
    "admin_tokens",
    "audit_trail",
    "backup",
    "bootstrap",
    "context",
    "credentials",
    "errors",
    "keys",
    "leaks",
    "members",
    "migration",
    "objects",
    "org",
    "providers",
    "quickstart",
    "residency",
    "rotation_sweep",
    "routes",
    "short_lived",
    "snapshot_loader",
    "teams",
    "usage",
    "vault_ops",
]
