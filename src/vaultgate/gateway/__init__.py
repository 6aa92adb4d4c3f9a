"""The ASGI data plane: ``/v1/*`` through the stage order in :mod:`vaultgate.gateway.pipeline`."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "asgi",
    "endpoints",
    "errors",
    "exchange",
    "failover",
    "failure",
    "http_limits",
    "lazy_app",
    "object_directory",
    "outcome",
    "pipeline",
    "read",
    "route_table",
    "routing",
    "security_events",
    "snapshot",
    "templates",
]
