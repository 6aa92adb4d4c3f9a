"""Fixtures for the limits tests: a real Redis (fails, not skips, when CI=true), one random key prefix per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
import redis

from tests.conftest import require_service

REDIS_URL = os.environ.get("VAULTGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2) as client:
            client.ping()
    except redis.RedisError as exc:
        require_service("Redis", f"{REDIS_URL}: {type(exc).__name__}")
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test (or parallel run) uses; its keys are deleted afterwards (never FLUSHALL)."""
    prefix = f"vgtest:{secrets.token_hex(8)}:"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
