"""Issue 9, class 11: answers are held to the standard of requests.

A hostile upstream injects personal data into its answer, written the ways request scanning
decodes (percent-encoded, HTML references, fullwidth, base64) and split across SSE chunks;
with ``response_pii: mask`` the client never sees it raw. An SSN-shaped number outside the
valid areas is treated as an SSN on both sides.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest

from tests.attacks.conftest import RecordingUpstream, Served
from tests.support.upstream import Responder

LOCAL = "jane.doe"
EMAIL = f"{LOCAL}@example.com"
WRITTEN = {
    "percent-encoded": "jane%2Edoe%40example%2Ecom",
    "html references": "jane&period;doe&#64;example&#x2E;com",
    "backslash escapes": "jane\\u002edoe\\x40example.com",
    "fullwidth at-sign": "jane.doe\uff20example.com",
    "zero-width joiners": "jane.\u200ddoe\u200b@example.com",
    "base64": base64.b64encode(f"write to {EMAIL}".encode()).decode(),
    "ssn outside the valid areas": "000-12-3456",
    "ssn with a 9xx area": "987-12-3456",
}


def _stream(text: str, size: int = 3) -> Responder:
    """A responder that streams ``text`` as chat deltas of ``size`` characters."""

    async def respond(captured: Any, send: Any) -> bool:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        base = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
        for start in range(0, len(text), size):
            delta = {"content": text[start : start + size]}
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await send(
                {"type": "http.response.body", "body": f"data: {json.dumps(chunk)}\n\n".encode(), "more_body": True}
            )
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await send({"type": "http.response.body", "body": f"data: {json.dumps(final)}\n\n".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        return True

    return respond


def _whole(text: str) -> Responder:
    async def respond(captured: Any, send: Any) -> bool:
        body = {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode(), "more_body": False})
        return True

    return respond


def _client(served: Served) -> openai.OpenAI:
    key = served.key(served.member(), privacy={"response_pii": "mask"})
    return openai.OpenAI(base_url=served.base_url, api_key=key, max_retries=0)


def _raw_forms(written: str) -> list[str]:
    if written[:3].isdigit():  # an SSN: the mask keeps the last four digits, as for requests
        return [written, written[:6]]
    return [written, EMAIL, LOCAL, "jane%2Edoe", "jane&period;doe"]


@pytest.mark.parametrize("written", list(WRITTEN.values()), ids=list(WRITTEN))
def test_a_streamed_injected_value_never_reaches_the_client_raw(
    served: Served, upstream: RecordingUpstream, written: str
) -> None:
    upstream.respond = _stream(f"Sure! Contact {written} for the refund, today.")
    stream = _client(served).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "who do I contact?"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("Sure! Contact ") and text.endswith(" for the refund, today.")
    for raw in _raw_forms(written):
        assert raw not in text, f"{raw!r} reached the client"


@pytest.mark.parametrize("written", list(WRITTEN.values()), ids=list(WRITTEN))
def test_a_whole_answer_is_scanned_like_a_request(served: Served, upstream: RecordingUpstream, written: str) -> None:
    upstream.respond = _whole(f"Contact {written} now.")
    answer = _client(served).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "who?"}])
    text = answer.choices[0].message.content or ""
    for raw in _raw_forms(written):
        assert raw not in text, f"{raw!r} reached the client"


@pytest.mark.parametrize("ssn", ["000-12-3456", "666-12-3456", "999-12-3456"])
def test_an_ssn_outside_the_valid_areas_is_redacted_on_the_request_side_too(
    served: Served, upstream: RecordingUpstream, ssn: str
) -> None:
    key = served.key(served.member())
    client = openai.OpenAI(base_url=served.base_url, api_key=key, max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"my number is {ssn}"}])
    assert ssn.encode() not in upstream.everything()
