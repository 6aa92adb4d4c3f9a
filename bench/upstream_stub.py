"""A fast OpenAI-shaped upstream stub for benchmarks, listening on loopback only.

Raw asyncio protocol + httptools parser on uvloop (no framework), so that one core
answers far more requests per second than any Python proxy in front of it can send.

    POST /v1/chat/completions   chat.completion JSON with `usage`; with "stream": true,
                                SSE chunks ending `data: [DONE]` (plus a usage chunk when
                                stream_options.include_usage is true)
    POST /v1/embeddings         a small embedding list with `usage`
    GET  /v1/models             a model list
    anything else               404 in OpenAI's error shape

Usage: python bench/upstream_stub.py --port 18080 [--api-key KEY] [--record-first FILE]
With --api-key, requests without `Authorization: Bearer KEY` get a 401. With --record-first, the
body of the first POST of at least 1 KiB is written to FILE (once: what the privacy benchmark
checks the gateway forwarded, at no cost to the requests after it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

import httptools

try:
    import orjson

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value)

    _loads = orjson.loads
except ImportError:  # the stub also runs with the stdlib only

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    _loads = json.loads

try:
    import uvloop
except ImportError:
    uvloop = None

COMPLETION_TEXT = (
    "Rotating API keys regularly limits the damage a leaked key can do. "
    "Give every team member their own key, keep provider keys in a vault, "
    "and revoke a key as soon as it shows up somewhere it should not."
)
PROMPT_TOKENS = 23
COMPLETION_TOKENS = 41
CREATED = 1_760_000_000
MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(model: str) -> bytes:
    """A complete, realistic chat.completion body (about 900 bytes)."""
    return _dumps(
        {
            "id": "chatcmpl-BENCH0000000000000000000000000",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": COMPLETION_TEXT,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
            "service_tier": "default",
            "system_fingerprint": "fp_bench0001",
        }
    )


# Content deltas per streamed answer (--sse-deltas); None: the completion text in pieces of four words (10).
SSE_DELTAS: int | None = None


def chat_completion_sse(model: str, include_usage: bool) -> bytes:
    """The SSE body of a streamed chat completion: role, ~10 content deltas (or ``SSE_DELTAS``), stop, [DONE]."""

    def chunk(delta: dict[str, Any], finish: str | None, usage: Any = None) -> bytes:
        body: dict[str, Any] = {
            "id": "chatcmpl-BENCH0000000000000000000000000",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_bench0001",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = usage
        return b"data: " + _dumps(body) + b"\n\n"

    words = COMPLETION_TEXT.split(" ")
    pieces = [" ".join(words[i : i + 4]) + " " for i in range(0, len(words), 4)]
    if SSE_DELTAS is not None:
        pieces = [pieces[i % len(pieces)] for i in range(SSE_DELTAS)]
    events = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    events += [chunk({"content": piece}, None) for piece in pieces]
    events.append(chunk({}, "stop"))
    if include_usage:
        final = {
            "id": "chatcmpl-BENCH0000000000000000000000000",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_bench0001",
            "choices": [],
            "usage": _usage(),
        }
        events.append(b"data: " + _dumps(final) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


def embeddings(model: str) -> bytes:
    """A small embeddings list (8 dimensions: the benchmark is about the proxy, not payload)."""
    return _dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0125] * 8}],
            "model": model,
            "usage": {"prompt_tokens": 8, "total_tokens": 8},
        }
    )


MODEL_LIST = _dumps(
    {
        "object": "list",
        "data": [{"id": m, "object": "model", "created": CREATED, "owned_by": "system"} for m in MODELS],
    }
)


def _error(message: str, type_: str, code: str) -> bytes:
    return _dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found"}


def _response(status: int, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: " + content_type + b"\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-request-id: req_bench\r\n",
            b"openai-processing-ms: 1\r\n",
            b"\r\n",
            body,
        )
    )


def _sse_response(body: bytes) -> bytes:
    """SSE goes out chunked, as OpenAI sends it: one HTTP chunk per event."""
    parts = [
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: text/event-stream; charset=utf-8\r\n"
        b"transfer-encoding: chunked\r\n"
        b"cache-control: no-cache\r\n"
        b"x-request-id: req_bench\r\n\r\n"
    ]
    for event in body.split(b"\n\n")[:-1]:
        data = event + b"\n\n"
        parts.append(b"%x\r\n%s\r\n" % (len(data), data))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


class Responses:
    """Pre-rendered responses, built once per (kind, model, flag) and reused."""

    def __init__(self, api_key: str | None, record_first: str | None = None) -> None:
        self.expected_auth = f"Bearer {api_key}".encode() if api_key else None
        self.record_first = record_first
        self._cache: dict[tuple[str, str, bool], bytes] = {}
        self.models = _response(200, MODEL_LIST)
        self.not_found = _response(404, _error("Unknown path", "invalid_request_error", "404"))
        self.unauthorized = _response(
            401, _error("Incorrect API key provided", "invalid_request_error", "invalid_api_key")
        )
        self.bad_json = _response(400, _error("Invalid JSON body", "invalid_request_error", "400"))

    def for_post(self, path: bytes, body: bytes) -> bytes:
        """The response to a POST with this path and body."""
        if self.record_first is not None and len(body) >= 1024:
            with open(self.record_first, "wb") as out:
                out.write(body)
            self.record_first = None
        kind = {b"/v1/chat/completions": "chat", b"/v1/embeddings": "embeddings"}.get(path)
        if kind is None:
            return self.not_found
        try:
            request = _loads(body)
            model = str(request.get("model") or "gpt-4o-mini")[:64]
            stream = bool(request.get("stream"))
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        except (ValueError, AttributeError):
            return self.bad_json
        stream_key = ("sse", model, include_usage)
        key = stream_key if kind == "chat" and stream else (kind, model, False)
        cached = self._cache.get(key)
        if cached is None:
            if key[0] == "sse":
                cached = _sse_response(chat_completion_sse(model, include_usage))
            elif key[0] == "chat":
                cached = _response(200, chat_completion(model))
            else:
                cached = _response(200, embeddings(model))
            if len(self._cache) < 1024:
                self._cache[key] = cached
        return cached


class StubProtocol(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; httptools calls the on_* callbacks."""

    def __init__(self, responses: Responses) -> None:
        self.responses = responses
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.authorization = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a TCP transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []
        self.authorization = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"authorization":
            self.authorization = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        responses = self.responses
        path = self.url.split(b"?", 1)[0]
        method = self.parser.get_method()
        if responses.expected_auth is not None and self.authorization != responses.expected_auth:
            out = responses.unauthorized
        elif method == b"POST":
            out = responses.for_post(path, b"".join(self.body))
        elif method == b"GET" and path == b"/v1/models":
            out = responses.models
        else:
            out = responses.not_found
        transport.write(out)
        if not self.parser.should_keep_alive():
            transport.close()


async def serve(host: str, port: int, api_key: str | None, record_first: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    responses = Responses(api_key, record_first)
    server = await loop.create_server(lambda: StubProtocol(responses), host, port, backlog=4096, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"upstream stub listening on http://{host}:{port}/v1 at {time.time():.0f}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    parser.add_argument("--sse-deltas", type=int, default=None, help="content deltas per streamed answer (10)")
    parser.add_argument("--record-first", default=None, help="write the first POST body of 1 KiB or more here")
    args = parser.parse_args()
    global SSE_DELTAS  # a script's setting, read when the first answer is rendered
    SSE_DELTAS = args.sse_deltas
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        parser.error("the stub listens on loopback only")
    if uvloop is not None:
        uvloop.install()
    asyncio.run(serve(args.host, args.port, args.api_key, args.record_first))


if __name__ == "__main__":
    main()
