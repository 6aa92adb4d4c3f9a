"""Class 4: nothing of the provider's credential comes back to the client.

A hostile (or merely careless) upstream echoes the credential vaultgate sent it: in a 401
("Incorrect API key provided: Bearer sk-..."), in a 200 body, in a header, in an SSE event
cut across transport chunks, base64- or URL-encoded. The client must never see any of it,
and an upstream 401 becomes the gateway's own 502 ``upstream_auth_failed``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import openai
import pytest

from tests.attacks.conftest import RecordingUpstream, Served, serving
from tests.support.upstream import Captured

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def _leaks(served: Served, data: bytes | str) -> list[str]:
    """Which forms of the provider key appear in ``data`` (any 12 characters of its random part count)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    key = served.upstream_key
    secret = key[len("sk-proj-") :]
    forms = {
        "raw": key,
        "url": quote(key, safe=""),
        "base64 bearer": base64.b64encode(f"Bearer {key}".encode()).decode(),
        "base64 key": base64.b64encode(key.encode()).decode(),
    }
    found = [name for name, form in forms.items() if form in text]
    found += [f"12 chars at {i}" for i in range(len(secret) - 11) if secret[i : i + 12] in text]
    return found


def _everything(response: httpx.Response) -> str:
    head = "".join(f"{k}: {v}\n" for k, v in response.headers.items())
    return f"{response.status_code} {response.reason_phrase}\n{head}\n{response.text}"


def _json_answer(status: int, document: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    async def respond(captured: Captured, send: Any) -> bool:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *(headers or [])],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(document).encode()})
        return True

    return respond


def _echo_401(captured: Captured) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Incorrect API key provided: {captured.headers['authorization']}. You can find your key...",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }


@pytest.fixture
def key(served: Served) -> str:
    return served.key(served.member(team=served.team()))


@pytest.fixture
def client(served: Served, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url, api_key=key, max_retries=0)


@pytest.fixture
def refused(tmp_path: Path) -> Iterator[Served]:
    """A gateway of its own: a credential its upstream refuses stays marked (skipped) in that process
    until it changes, so these tests must not share the module's gateway."""
    with serving(tmp_path, RecordingUpstream()) as gateway:
        yield gateway


def test_an_upstream_401_echoing_the_key_becomes_the_gateways_own_502(refused: Served) -> None:
    served, upstream = refused, refused.upstream
    key = served.key(served.member(team=served.team()))
    client = openai.OpenAI(base_url=served.base_url, api_key=key, max_retries=0)

    async def respond(captured: Captured, send: Any) -> bool:
        return await _json_answer(401, _echo_401(captured))(captured, send)

    upstream.respond = respond
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(**CHAT)
    error = raised.value
    assert error.status_code == 502
    assert error.code == "upstream_auth_failed"
    assert "'capture'" in error.message and "rotate" in error.message
    assert "Incorrect API key provided" not in str(error.body)
    assert error.response.headers["x-should-retry"] == "false"
    assert _leaks(served, _everything(error.response)) == []
    # A stream gets the same answer (the credential is now marked: nothing is sent upstream).
    raw = served.post("/chat/completions", key, {**CHAT, "stream": True})
    assert raw.status_code == 502 and raw.json()["error"]["code"] == "upstream_auth_failed"
    assert _leaks(served, _everything(raw)) == []


def test_an_upstream_403_with_an_auth_code_is_an_auth_failure_but_other_403s_are_relayed_scrubbed(
    refused: Served,
) -> None:
    served, upstream = refused, refused.upstream
    key = served.key(served.member(team=served.team()))

    async def region(captured: Captured, send: Any) -> bool:
        document = {
            "error": {
                "message": f"Country not supported for {captured.headers['authorization']}",
                "type": "invalid_request_error",
                "param": None,
                "code": "unsupported_country_region_territory",
            }
        }
        return await _json_answer(403, document)(captured, send)

    upstream.respond = region
    response = served.post("/chat/completions", key, CHAT)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "unsupported_country_region_territory"
    assert "Country not supported for Bearer " in response.json()["error"]["message"]
    assert _leaks(served, _everything(response)) == []

    async def auth(captured: Captured, send: Any) -> bool:
        document = _echo_401(captured)
        return await _json_answer(403, document)(captured, send)

    upstream.respond = auth
    response = served.post("/chat/completions", key, CHAT)
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_auth_failed"
    assert _leaks(served, _everything(response)) == []


def test_a_200_body_and_headers_echoing_the_key_in_any_encoding_are_scrubbed(
    served: Served, upstream: RecordingUpstream, client: openai.OpenAI
) -> None:
    secret = served.upstream_key
    content = " | ".join(
        [
            f"raw {secret}",
            f"truncated {secret[:24]}...",
            "basic " + base64.b64encode(f"Bearer {secret}".encode()).decode(),
            "plain64 " + base64.b64encode(secret.encode()).decode(),
            "url " + quote(f"Bearer {secret}", safe=""),
        ]
    )
    document = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    headers = [(b"openai-version", secret.encode()), (b"openai-processing-ms", b"Bearer " + secret.encode())]
    upstream.respond = _json_answer(200, document, headers)
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    answer = raw.parse().choices[0].message.content or ""
    assert answer.startswith("raw [provider credential removed] | truncated [provider credential removed]...")
    assert _leaks(served, answer) == []
    assert _leaks(served, "".join(f"{k}: {v}\n" for k, v in raw.headers.items())) == []


def test_a_model_list_echoing_the_key_is_scrubbed(served: Served, upstream: RecordingUpstream, key: str) -> None:
    secret = served.upstream_key
    models = {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created": 1, "owned_by": secret}]}
    upstream.respond = _json_answer(200, models)
    response = httpx.get(served.base_url + "/models", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and response.json()["data"][0]["id"] == "gpt-4o"
    assert _leaks(served, _everything(response)) == []


def test_an_sse_event_carrying_the_key_across_chunk_boundaries_is_scrubbed(
    served: Served, upstream: RecordingUpstream, client: openai.OpenAI, key: str
) -> None:
    secret = served.upstream_key

    async def respond(captured: Captured, send: Any) -> bool:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
        texts = [f"key: {secret}", base64.b64encode(f"Bearer {secret}".encode()).decode(), quote(secret, safe="")]
        for text in texts:
            event = f"data: {json.dumps({**base, 'choices': [{'index': 0, 'delta': {'content': text}}]})}\n\n"
            middle = event.index(text) + len(text) // 2  # the chunk boundary cuts the credential in two
            for piece in (event[:middle], event[middle:]):
                await send({"type": "http.response.body", "body": piece.encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        return True

    upstream.respond = respond
    stream = client.chat.completions.create(**CHAT, stream=True)
    pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert pieces[0] == "key: [provider credential removed]"
    assert len(pieces) == 3
    assert _leaks(served, "".join(pieces)) == []
    with httpx.stream(
        "POST",
        served.base_url + "/chat/completions",
        json={**CHAT, "stream": True},
        headers={"Authorization": f"Bearer {key}"},
    ) as raw:
        assert _leaks(served, b"".join(raw.iter_raw())) == []
