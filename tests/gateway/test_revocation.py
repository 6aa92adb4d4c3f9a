"""Revocation through the admin API reaches the running gateway by itself (no restart, no sync call).

How fast it does (within a second: PostgreSQL NOTIFY, or the next snapshot poll) is a property of the
refresh interval, not something a test on a busy machine can time: the loop below only bounds how long
the test waits for it."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from tests.conftest import Stack


def test_a_revoked_key_is_refused_by_the_running_gateway(stack: Stack) -> None:
    admin = httpx.Client(
        base_url=stack.gateway.url, headers={"authorization": f"Bearer {stack.admin_token}"}, timeout=30
    )
    assert admin.post("/admin/members", json={"name": "alice"}).status_code == 201
    created = admin.post("/admin/keys", json={"member": "alice"}).json()
    stack.sync()
    c = openai.OpenAI(base_url=stack.base_url, api_key=created["key"], max_retries=0)
    assert c.models.list().data

    revoked_at = time.monotonic()
    assert admin.post(f"/admin/keys/{created['id']}/revoke").status_code == 200
    refused_after = None
    while time.monotonic() - revoked_at < 30:
        try:
            c.models.list()
        except openai.AuthenticationError:
            refused_after = time.monotonic() - revoked_at
            break
        time.sleep(0.01)
    assert refused_after is not None, "the revoked key was still accepted after 30 s"
    # And it stays refused.
    with pytest.raises(openai.AuthenticationError):
        c.models.list()
