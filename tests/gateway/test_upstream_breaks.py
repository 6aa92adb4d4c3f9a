"""An upstream that breaks after its headers: a whole (non-streaming) answer is the gateway's JSON 502,
never a plain-text 500, and the next request works."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from tests.conftest import Stack
from tests.support.upstream import Captured

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


async def _cut_after_headers(request: Captured, send: Any) -> bool:
    """Promise 1,000 bytes, send ten, then drop the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"id": "ch', "more_body": True})
    raise RuntimeError("the upstream dies mid-answer")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_body_cut_after_the_headers_is_a_json_502(stack: Stack) -> None:
    stack.member()
    key = stack.key()
    stack.upstream.respond = _cut_after_headers
    answer = httpx.post(stack.base_url + "/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]["code"] == "upstream_unavailable"
    stack.upstream.respond = None
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    assert client.chat.completions.create(**CHAT).choices[0].message.content  # the next request works
