"""Rate limits, concurrency and budgets per key, member and team; memory and Redis backends."""
