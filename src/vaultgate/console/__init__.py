"""The web console at ``/console``: server-rendered pages over the same services as the admin API and the CLI."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "app",
]
