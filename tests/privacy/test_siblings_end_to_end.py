"""The official openai SDK through the gateway: response scanning reads a message's content parts as one
text (Responses API, JSON and stream, split at every offset); a normal end keeps a placeholder-like tail."""

from __future__ import annotations

import random

import httpx
import openai
from tests.conftest import Stack
from tests.privacy import pii_corpus as corpus

from vaultgate.detect.pii_rules import Entity
from vaultgate.privacy.redact import mask

RNG = random.Random(404)
CLIENT, FOREIGN = corpus.email(RNG), corpus.email(RNG)
PROMPT = f"hi {CLIENT}"
ANSWER = f"upstream says: {PROMPT}"
EXTRA = f" Write to {FOREIGN} for billing."
WANT = ANSWER + EXTRA.replace(FOREIGN, mask(Entity.EMAIL, FOREIGN))


def _client(stack: Stack) -> openai.OpenAI:
    stack.member("alice")
    key = stack.key("alice", privacy={"response_pii": "mask"})
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def _offsets() -> range:
    """Offsets inside the foreign value in the text the upstream writes (it echoes the placeholder)."""
    start = len("upstream says: hi [EMAIL_1]") + EXTRA.index(FOREIGN)
    return range(start, start + len(FOREIGN) + 1)


def _no_half(parts: list[str]) -> None:
    for part in parts:
        for size in range(3, len(FOREIGN)):
            assert not part.endswith(FOREIGN[:size]) and not part.startswith(FOREIGN[-size:]), parts


def test_responses_json_parts_split_inside_a_value_at_every_offset(stack: Stack) -> None:
    client = _client(stack)
    stack.upstream.extra = EXTRA
    for offset in _offsets():
        stack.upstream.part_split = offset
        reply = client.responses.create(model="gpt-4o", input=PROMPT)
        assert reply.output_text == WANT, offset
        message = reply.output[0]
        assert message.type == "message" and len(message.content) == 2
        _no_half([p.text for p in message.content if p.type == "output_text"])
    assert FOREIGN not in stack.upstream.last.body.decode() and CLIENT not in stack.upstream.last.body.decode()


def test_responses_stream_parts_split_inside_a_value_at_every_offset(stack: Stack) -> None:
    client = _client(stack)
    stack.upstream.extra = EXTRA
    for offset in _offsets():
        stack.upstream.part_split = offset
        stack.upstream.byte_chunk = 3 + offset % 13
        deltas: dict[int, str] = {}
        final = None
        with client.responses.stream(model="gpt-4o", input=PROMPT) as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    deltas[event.content_index] = deltas.get(event.content_index, "") + event.delta
                elif event.type == "response.output_text.done":
                    assert event.text == deltas[event.content_index], offset
            final = stream.get_final_response()
        assert "".join(deltas[i] for i in sorted(deltas)) == WANT, offset
        assert final.output_text == WANT, offset
        _no_half(list(deltas.values()))


def test_chat_stream_that_ends_normally_keeps_a_placeholder_like_tail(stack: Stack) -> None:
    stack.member("alice")
    client = openai.OpenAI(base_url=stack.base_url, api_key=stack.key("alice"), max_retries=0)
    stack.upstream.tail = " see [EM"
    for offset in range(len("upstream says: "), len(ANSWER) + 1, 3):
        stack.upstream.split = offset
        stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == ANSWER + " see [EM", offset


def test_chat_stream_cut_after_a_placeholder_like_tail_still_drops_it(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    stack.upstream.mode = "cut"
    stack.upstream.split = len("upstream says: hi [EMA")
    with httpx.stream(
        "POST",
        stack.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": PROMPT}]},
        timeout=10,
    ) as response:
        body = b"".join(response.iter_bytes()).decode()
    assert "[EMA" not in body and "upstream says: hi " in body and "upstream_stream_broken" in body
