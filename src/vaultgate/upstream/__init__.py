"""Provider adapters, the pooled HTTP client, retries and SSE streaming to the upstream."""

# Public modules: other packages import from these only (docs/ARCHITECTURE.md, "Public names").
__all__ = [
    "addresses",
    "azure",
    "azure_settings",
    "breaker",
    "config",
    "content_filter",
    "echo",
    "entra",
    "http",
    "interface",
    "openai",
    "refused_credentials",
    "retry",
]
