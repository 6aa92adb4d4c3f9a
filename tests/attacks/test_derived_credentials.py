"""Derived credentials: a ``vgt_`` token never outlives the secret it was exchanged for, exchange is
rate-limited per key, and issuing a token does not make replicas rebuild their whole snapshot."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.attacks.conftest import RecordingUpstream, Served
from vaultgate.services import keys
from vaultgate.services.context import LOCAL_OPERATOR

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def exchange(served: Served, credential: str, **body: object) -> httpx.Response:
    return served.post("/vaultgate/tokens", credential, body)


def chat_status(served: Served, credential: str) -> int:
    return served.post("/chat/completions", credential, CHAT).status_code


def key_id_of(served: Served, member: str) -> str:
    return keys.list_keys(served.cp, LOCAL_OPERATOR, member)[0].id


def test_a_token_dies_when_its_key_is_rotated_without_grace(served: Served, upstream: RecordingUpstream) -> None:
    member = served.member()
    key = served.key(member)
    answer = exchange(served, key)
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert chat_status(served, token) == 200

    rotated = keys.rotate(served.cp, LOCAL_OPERATOR, key_id_of(served, member), grace="0s")
    served.sync()
    assert chat_status(served, key) == 401  # the old secret is gone at once ...
    assert chat_status(served, token) == 401  # ... and so is every token exchanged for it
    assert chat_status(served, rotated.token) == 200
    fresh = exchange(served, rotated.token).json()["token"]
    assert chat_status(served, fresh) == 200  # tokens of the new secret work


def test_token_exchange_is_rate_limited_per_key(served: Served, upstream: RecordingUpstream) -> None:
    key = served.key(served.member())
    statuses = [exchange(served, key, expires_in=60).status_code for _ in range(20)]
    assert statuses == [200] * 20
    refused = exchange(served, key, expires_in=60)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    # Another key of the same member is counted on its own.
    other = served.key(served.member())
    assert exchange(served, other).status_code == 200
    # The SDK sees an ordinary rate limit (it retries; with retries off it raises at once).
    client = openai.OpenAI(base_url=served.base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.post("/vaultgate/tokens", body={}, cast_to=object)


def test_issuing_a_token_does_not_move_the_snapshot_revision(served: Served, upstream: RecordingUpstream) -> None:
    key = served.key(served.member())
    before = served.cp.store.revision()
    token = exchange(served, key).json()["token"]
    assert chat_status(served, token) == 200  # usable at once on the replica that issued it
    assert served.cp.store.revision() == before
    assert int(httpx.get(served.url + "/healthz").json()["revision"]) == before
