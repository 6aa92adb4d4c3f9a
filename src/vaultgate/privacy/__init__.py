"""Privacy: request hygiene now; PII and secret redaction/restoration build on it. Never persists content."""
