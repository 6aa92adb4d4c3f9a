"""A capturing OpenAI-shaped upstream: records every request exactly as it arrived."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]


@dataclass
class Captured:
    method: str
    path: str
    query: bytes
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def everything(self) -> bytes:
        """Every byte the upstream saw, for "no raw value reached the upstream" checks."""
        head = f"{self.method} {self.path}?{self.query.decode()}\n".encode()
        head += "".join(f"{k}: {v}\n" for k, v in self.headers.items()).encode()
        return head + self.body


async def capture(scope: Scope, receive: Any) -> Captured:
    """The request exactly as it arrived (the whole body read)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    return Captured(scope["method"], scope["path"], scope.get("query_string", b""), headers, body)


# A replacement answer: ``async (request, send) -> answered`` (False: answer as usual).
Responder = Callable[[Captured, Any], Awaitable[bool]]


@dataclass
class CaptureUpstream:
    """An ASGI app; set ``next_error`` to make the next answer an error, ``respond`` to answer otherwise."""

    requests: list[Captured] = field(default_factory=list)
    next_error: tuple[int, bytes] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    respond: Responder | None = None
    # Serves WebSocket upgrades (realtime sessions) when set: an ASGI app for websocket scopes.
    websocket: Callable[[Scope, Any, Any], Awaitable[None]] | None = None

    @property
    def last(self) -> Captured:
        return self.requests[-1]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and self.websocket is not None:
            await self.websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        captured = await capture(scope, receive)
        with self.lock:
            self.requests.append(captured)
            error, self.next_error = self.next_error, None
        if error is not None:
            await self._send(send, error[0], error[1])
            return
        if self.respond is not None and await self.respond(captured, send):
            return
        await self._answer(captured, send)

    async def _send(self, send: Any, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, req: Captured, send: Any) -> None:
        if req.method == "GET" and req.path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 1, "owned_by": "test"} for m in ("gpt-4o", "gpt-4o-mini", "o3")
            ]
            await self._send(send, 200, json.dumps({"object": "list", "data": data}).encode())
            return
        is_json = req.headers.get("content-type", "application/json").startswith("application/json")
        payload = req.json() if req.body and is_json else {}
        text = _last_text(payload)
        reply = "upstream says: " + text
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        model = payload.get("model")
        if req.path == "/v1/chat/completions" and payload.get("stream"):
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]}
            )
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model}
            include = (payload.get("stream_options") or {}).get("include_usage")
            for i, piece in enumerate(reply.split(" ")):
                chunk = {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"content": piece if i == 0 else " " + piece}, "finish_reason": None}
                    ],
                }
                if include:
                    chunk["usage"] = None
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"data: " + json.dumps(chunk).encode() + b"\n\n",
                        "more_body": True,
                    }
                )
            final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + json.dumps(final).encode() + b"\n\n",
                    "more_body": True,
                }
            )
            if include:
                tail = {**base, "choices": [], "usage": usage}
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"data: " + json.dumps(tail).encode() + b"\n\n",
                        "more_body": True,
                    }
                )
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
            return
        if req.path == "/v1/chat/completions":
            body = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": usage,
            }
        elif req.path == "/v1/responses":
            body = {
                "id": "resp_1",
                "object": "response",
                "created_at": 1,
                "status": "completed",
                "model": model,
                "output": [
                    {
                        "type": "message",
                        "id": "msg_1",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": reply, "annotations": []}],
                    }
                ],
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
            }
        elif req.path == "/v1/completions":
            body = {
                "id": "cmpl-1",
                "object": "text_completion",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "text": reply, "logprobs": None, "finish_reason": "stop"}],
                "usage": usage,
            }
        elif req.path == "/v1/embeddings":
            body = {
                "object": "list",
                "model": model,
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": 3, "total_tokens": 3},
            }
        elif req.path == "/v1/moderations":
            body = {
                "id": "modr-1",
                "model": model or "omni-moderation-latest",
                "results": [{"flagged": False, "categories": {}, "category_scores": {}}],
            }
        else:
            await self._send(
                send,
                404,
                b'{"error": {"message": "no such path", "type": "invalid_request_error", "param": null, "code": null}}',
            )
            return
        await self._send(send, 200, json.dumps(body).encode())


def _last_text(payload: dict[str, Any]) -> str:
    messages = payload.get("messages")
    if isinstance(messages, list) and messages:
        content = messages[-1].get("content")
        return content if isinstance(content, str) else json.dumps(content)
    value = payload.get("input", payload.get("prompt", ""))
    return value if isinstance(value, str) else json.dumps(value)
