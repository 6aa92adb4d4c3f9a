"""The official openai SDK through the gateway to a loopback upstream that echoes what it got.

Nothing raw reaches the upstream (request line, headers, body); the client gets its values back
in JSON, tool arguments, odd fields and errors, and in streams split at every offset.
"""

from __future__ import annotations

import json
import logging
import random

import httpx
import openai
import pytest
from tests.conftest import Stack
from tests.privacy import pii_corpus as corpus

from vaultgate.detect.examples import expand

RNG = random.Random(2026)
EMAIL, PHONE, CARD, IBAN, SSN, IP = (
    corpus.email(RNG),
    "+44 20 7946 0958",
    corpus.card(RNG),
    corpus.iban(RNG),
    corpus.ssn(RNG),
    corpus.ipv4(RNG),
)
VALUES = (EMAIL, PHONE, CARD, IBAN, SSN, IP)
PROMPT = f"Mail {EMAIL} or call {PHONE}; card {CARD}, IBAN {IBAN}, SSN {SSN}, from {IP}."


def _client(stack: Stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def _assert_nothing_raw_upstream(stack: Stack) -> None:
    seen = b"".join(r.everything() for r in stack.upstream.requests).decode()
    for value in VALUES:
        assert value not in seen
        assert value.replace("@", "%40") not in seen


def test_json_answer_restored_in_content_tool_arguments_and_unknown_fields(stack: Stack) -> None:
    stack.member("alice")
    reply = _client(stack, stack.key("alice")).chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": PROMPT}],
        extra_body={"vendor_hint": f"crm contact {EMAIL}"},
        extra_query={"trace": EMAIL},
    )
    _assert_nothing_raw_upstream(stack)
    sent = stack.upstream.last.json()
    assert "[EMAIL_1]" in sent["messages"][0]["content"] and sent["vendor_hint"] == "crm contact [EMAIL_1]"
    message = reply.choices[0].message
    assert message.content == "upstream says: " + PROMPT
    assert message.tool_calls is not None
    assert json.loads(message.tool_calls[0].function.arguments) == {"echo": "upstream says: " + PROMPT}
    assert reply.model_extra is not None and reply.model_extra["unexpected"] == {
        "upstream says: " + PROMPT: ["upstream says: " + PROMPT]
    }


def test_stream_restores_with_values_split_at_every_offset(stack: Stack) -> None:
    stack.member("alice")
    client = _client(stack, stack.key("alice"))
    prompt = f"to {EMAIL} / {CARD}"
    reply = "upstream says: " + prompt
    for offset in range(len("upstream says: "), len(reply) + 1):
        stack.upstream.split = offset
        stack.upstream.byte_chunk = 3 + offset % 11
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": prompt}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == reply, offset
    _assert_nothing_raw_upstream(stack)


def test_upstream_error_echoing_the_prompt_is_restored_for_the_client_only(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stack.member("alice")
    stack.upstream.mode = "error"
    with pytest.raises(openai.BadRequestError) as raised:
        _client(stack, stack.key("alice")).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": PROMPT}]
        )
    assert EMAIL in str(raised.value.body)
    _assert_nothing_raw_upstream(stack)
    rows = stack.usage(1)
    stored = " ".join(repr(vars(r)) for r in rows)
    assert all(v not in stored for v in VALUES) and "[EMAIL_1]" not in stored
    assert all(v not in caplog.text for v in VALUES) and "[EMAIL_1]" not in caplog.text


def test_stream_cut_inside_a_placeholder_ends_cleanly_without_a_fragment(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    stack.upstream.mode = "cut"
    prompt = f"x {EMAIL}"
    stack.upstream.split = len("upstream says: x [EMA")
    with httpx.stream(
        "POST",
        stack.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": prompt}]},
        timeout=10,
    ) as response:
        body = b"".join(response.iter_bytes()).decode()
    assert "[EMA" not in body and EMAIL not in body
    assert "upstream says: x " in body and "upstream_stream_broken" in body


def test_secret_in_prompt_is_refused_with_secret_detected(stack: Stack) -> None:
    stack.member("alice")
    secret = expand("ghp_{b62:36}", random.Random(3))
    before = len(stack.upstream.requests)
    with pytest.raises(openai.BadRequestError) as raised:
        _client(stack, stack.key("alice")).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"my token is {secret}"}]
        )
    assert raised.value.code == "secret_detected" and secret not in str(raised.value.body)
    assert len(stack.upstream.requests) == before


def test_policy_on_the_key_blocks_and_redacts_secrets(stack: Stack) -> None:
    stack.member("alice")
    client = _client(stack, stack.key("alice", privacy={"pii": {"card": "block"}, "secrets": "redact"}))
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"card {CARD}"}])
    assert (
        raised.value.code == "pii_blocked" and "card" in str(raised.value.body) and CARD not in str(raised.value.body)
    )
    secret = expand("ghp_{b62:36}", random.Random(4))
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"t {secret}"}])
    assert secret not in stack.upstream.last.everything().decode()
    assert reply.choices[0].message.content == f"upstream says: t {secret}"


def test_response_scanning_masks_values_only_the_model_wrote_json_and_stream(stack: Stack) -> None:
    stack.member("alice")
    foreign = corpus.email(random.Random(77))
    stack.upstream.extra = f" Also reach {foreign} for help."
    client = _client(stack, stack.key("alice", privacy={"response_pii": "mask"}))
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"hi {EMAIL}"}])
    content = reply.choices[0].message.content or ""
    assert EMAIL in content and foreign not in content and "***@***." in content
    for offset in range(len("upstream says: hi "), len(f"upstream says: hi {EMAIL} Also reach {foreign}"), 5):
        stack.upstream.split = offset
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"hi {EMAIL}"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert EMAIL in text and foreign not in text and text.endswith(" for help."), offset


def test_mask_mode_is_one_way(stack: Stack) -> None:
    stack.member("alice")
    client = _client(stack, stack.key("alice", privacy={"pii": {"card": "mask"}}))
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"card {CARD}"}])
    digits = CARD.replace(" ", "").replace("-", "")
    assert digits[-4:] in (reply.choices[0].message.content or "")
    assert CARD not in (reply.choices[0].message.content or "") and CARD not in stack.upstream.last.body.decode()
