"""vaultgate: a self-hosted security gateway for the OpenAI API."""

__version__ = "0.1.0"

# Public: the version and the top-level modules (docs/ARCHITECTURE.md, "Public names").
__all__ = ["__version__", "config", "hooks", "metrics", "server", "serving", "sse", "tracing"]
