"""The admin REST API (``/admin/...``, OpenAPI at ``/admin/openapi.json``) and, later, the web console."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "api",
]
