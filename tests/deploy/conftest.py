"""Fixtures for the deployment tests: Redis as the limits tests reach it (fails, not skips, when CI=true)."""

from tests.limits.conftest import redis_prefix, redis_url

__all__ = ["redis_prefix", "redis_url"]
