"""Provider adapters, the pooled HTTP client, retries and SSE streaming to the upstream."""
