"""The offline ``echo`` provider: answers in-process, so the gateway works with no network.

It speaks the OpenAI shapes (chat completions with SSE, responses, completions,
embeddings, moderations, models) and repeats the last user text back. Token counts are
whitespace word counts: enough to exercise accounting, not a tokenizer.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamResponse

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "text-embedding-3-small", "omni-moderation-latest", "echo-1")


class EchoResponse(UpstreamResponse):
    """A response produced in memory, whole or as SSE chunks."""

    def __init__(self, status: int, parts: list[bytes], content_type: str = "application/json") -> None:
        self.status = status
        self.headers = [("content-type", content_type)]
        self._parts = parts

    async def chunks(self) -> AsyncIterator[bytes]:
        for part in self._parts:
            yield part


def _error(status: int, code: str, message: str, param: str | None = None) -> EchoResponse:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return EchoResponse(status, [orjson.dumps(body)])


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text_of(p.get("text") if isinstance(p, dict) else p) for p in content)
    return ""


def _last_user_text(payload: dict[str, Any]) -> str:
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return _text_of(message.get("content"))
    inp = payload.get("input", payload.get("prompt", ""))
    if isinstance(inp, list):
        return " ".join(_text_of(i.get("content") if isinstance(i, dict) else i) for i in inp)
    return _text_of(inp)


def _count(text: str) -> int:
    return max(1, len(text.split()))


def _vector(text: str, dims: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = (seed * (dims * 4 // len(seed) + 1))[: dims * 4]
    return [round(v / 2**32, 6) for v in struct.unpack(f"<{dims}I", raw)]


class EchoAdapter(ProviderAdapter):
    """The offline provider."""

    async def send(self, provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
        if request.endpoint in ("models.list", "models.retrieve"):
            return self._models(request.model if request.endpoint == "models.retrieve" else None)
        try:
            payload = orjson.loads(request.body) if request.body else {}
        except orjson.JSONDecodeError:
            return _error(400, "invalid_json", "We could not parse the JSON body of your request.")
        if request.model is not None and request.model not in MODELS:
            return _error(404, "model_not_found", f"The model `{request.model}` does not exist.", "model")
        handler = {
            "chat.completions": self._chat,
            "responses": self._responses,
            "completions": self._completions,
            "embeddings": self._embeddings,
            "moderations": self._moderations,
        }.get(request.endpoint)
        if handler is None or request.method != "POST":
            return _error(404, "unknown_url", f"Unknown request URL: {request.method} /v1{request.path}.")
        return handler(payload, request)

    def _models(self, name: str | None) -> UpstreamResponse:
        entries = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "vaultgate-echo"} for m in MODELS]
        if name is not None:
            match = [e for e in entries if e["id"] == name]
            if not match:
                return _error(404, "model_not_found", f"The model `{name}` does not exist.", "model")
            return EchoResponse(200, [orjson.dumps(match[0])])
        return EchoResponse(200, [orjson.dumps({"object": "list", "data": entries})])

    def _chat(self, payload: dict[str, Any], request: ProxyRequest) -> UpstreamResponse:
        text = _last_user_text(payload)
        reply = "echo: " + text
        usage = {"prompt_tokens": _count(text), "completion_tokens": _count(reply)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        created = int(time.time())
        ident = "chatcmpl-echo" + hashlib.sha1(reply.encode()).hexdigest()[:12]  # noqa: S324 - an id, not security
        model = payload.get("model")
        if not request.stream:
            body = {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
            return EchoResponse(200, [orjson.dumps(body)])
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        base = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
        words = reply.split(" ")
        parts = []
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            delta: dict[str, Any] = {"content": piece}
            if i == 0:
                delta["role"] = "assistant"
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            if include_usage:
                chunk["usage"] = None
            parts.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        parts.append(b"data: " + orjson.dumps(final) + b"\n\n")
        if include_usage:
            parts.append(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
        parts.append(b"data: [DONE]\n\n")
        return EchoResponse(200, parts, "text/event-stream")

    def _responses(self, payload: dict[str, Any], request: ProxyRequest) -> UpstreamResponse:
        text = _last_user_text(payload)
        reply = "echo: " + text
        usage = {"input_tokens": _count(text), "output_tokens": _count(reply)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        ident = "resp_echo" + hashlib.sha1(reply.encode()).hexdigest()[:12]  # noqa: S324 - an id, not security
        message = {
            "type": "message",
            "id": "msg_" + ident[5:],
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": reply, "annotations": []}],
        }
        body = {
            "id": ident,
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": payload.get("model"),
            "output": [message],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "store": payload.get("store", True),
            "usage": usage,
        }
        if not request.stream:
            return EchoResponse(200, [orjson.dumps(body)])
        events = [
            (
                "response.created",
                {
                    "type": "response.created",
                    "sequence_number": 0,
                    "response": {**body, "status": "in_progress", "output": [], "usage": None},
                },
            ),
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "sequence_number": 1,
                    "item_id": message["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": reply,
                    "logprobs": [],
                },
            ),
            ("response.completed", {"type": "response.completed", "sequence_number": 2, "response": body}),
        ]
        parts = [f"event: {name}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n" for name, data in events]
        return EchoResponse(200, parts, "text/event-stream")

    def _completions(self, payload: dict[str, Any], request: ProxyRequest) -> UpstreamResponse:
        text = _last_user_text(payload)
        reply = " echo: " + text
        usage = {"prompt_tokens": _count(text), "completion_tokens": _count(reply)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        body = {
            "id": "cmpl-echo",
            "object": "text_completion",
            "created": int(time.time()),
            "model": payload.get("model"),
            "choices": [{"index": 0, "text": reply, "logprobs": None, "finish_reason": "stop"}],
            "usage": usage,
        }
        if not request.stream:
            return EchoResponse(200, [orjson.dumps(body)])
        chunk = {**body, "choices": [{"index": 0, "text": reply, "logprobs": None, "finish_reason": "stop"}]}
        chunk.pop("usage")
        parts = [b"data: " + orjson.dumps(chunk) + b"\n\n"]
        if (payload.get("stream_options") or {}).get("include_usage"):
            parts.append(b"data: " + orjson.dumps({**chunk, "choices": [], "usage": usage}) + b"\n\n")
        parts.append(b"data: [DONE]\n\n")
        return EchoResponse(200, parts, "text/event-stream")

    def _embeddings(self, payload: dict[str, Any], request: ProxyRequest) -> UpstreamResponse:
        inputs = payload.get("input", "")
        items = inputs if isinstance(inputs, list) else [inputs]
        requested = payload.get("dimensions")
        dims = max(1, min(requested, 3072)) if isinstance(requested, int) else 8
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(str(item), dims)} for i, item in enumerate(items)
        ]
        tokens = sum(_count(str(item)) for item in items)
        body = {
            "object": "list",
            "data": data,
            "model": payload.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return EchoResponse(200, [orjson.dumps(body)])

    def _moderations(self, payload: dict[str, Any], request: ProxyRequest) -> UpstreamResponse:
        inputs = payload.get("input", "")
        items = inputs if isinstance(inputs, list) else [inputs]
        body = {
            "id": "modr-echo",
            "model": payload.get("model") or "omni-moderation-latest",
            "results": [{"flagged": False, "categories": {}, "category_scores": {}} for _ in items],
        }
        return EchoResponse(200, [orjson.dumps(body)])
