"""Usage accounting: metadata of every request (tokens, status, latency), never content."""
