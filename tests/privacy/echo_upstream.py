"""An upstream that echoes the prompt back in awkward places: JSON fields, tool arguments, keys,
SSE deltas split at a chosen offset (and written a few bytes at a time), errors, cut streams."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from tests.privacy import echo_responses
from tests.support.upstream import Captured, capture


def _last_text(payload: dict[str, Any]) -> str:
    messages = payload.get("messages")
    if isinstance(messages, list) and messages:
        content = messages[-1].get("content")
        if isinstance(content, list):
            return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    return str(payload.get("input", ""))


@dataclass
class EchoUpstream:
    """Set ``split`` (text offset of the two SSE deltas), ``mode`` ("ok", "error", "cut")."""

    requests: list[Captured] = field(default_factory=list)
    split: int | None = None
    mode: str = "ok"
    byte_chunk: int = 5
    extra: str = ""  # appended to every answer: text the client never sent
    part_split: int | None = None  # /v1/responses: cut the answer into two output_text parts here
    tail: str = ""  # appended after `extra` to the last delta of a chat stream (e.g. "[EM")

    @property
    def last(self) -> Captured:
        return self.requests[-1]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        captured = await capture(scope, receive)
        body = captured.body
        self.requests.append(captured)
        payload = json.loads(body) if body else {}
        text = ("upstream says: " + _last_text(payload) if body else scope["path"]) + self.extra
        if self.mode == "error":
            error = {
                "error": {
                    "message": f"Invalid prompt: {text}",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            }
            await self._json(send, 400, error)
        elif scope["path"].endswith("/responses"):
            await self._responses(send, payload, text)
        elif payload.get("stream"):
            await self._stream(send, text)
        else:
            reply = {
                "id": "chatcmpl-e",
                "object": "chat.completion",
                "created": 1,
                "model": payload.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "tool_calls",
                        "message": {
                            "role": "assistant",
                            "content": text,
                            "tool_calls": [
                                {
                                    "id": "c1",
                                    "type": "function",
                                    "function": {"name": "f", "arguments": json.dumps({"echo": text})},
                                }
                            ],
                        },
                    }
                ],
                "unexpected": {text: [text]},
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            await self._json(send, 200, reply)

    async def _json(self, send: Any, status: int, document: Any) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(document).encode()})

    async def _stream(self, send: Any, text: str) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        cut = len(text) // 2 if self.split is None else self.split
        pieces = [text[:cut], text[cut:] + self.tail]
        base = {"id": "chatcmpl-e", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
        raw = b""
        for piece in pieces:
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            raw += b"data: " + json.dumps(chunk).encode() + b"\n\n"
        if self.mode == "cut":
            # The first delta, then the stream breaks off without finishing.
            first = raw.split(b"\n\n")[0] + b"\n\n"
            await send({"type": "http.response.body", "body": first, "more_body": True})
            await asyncio.sleep(0.05)
            raise RuntimeError("upstream died mid-stream")
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        raw += b"data: " + json.dumps(final).encode() + b"\n\ndata: [DONE]\n\n"
        for i in range(0, len(raw), self.byte_chunk):
            await send({"type": "http.response.body", "body": raw[i : i + self.byte_chunk], "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _responses(self, send: Any, payload: dict[str, Any], text: str) -> None:
        cut = len(text) // 2 if self.part_split is None else self.part_split
        parts = [text[:cut], text[cut:]]
        if not payload.get("stream"):
            await self._json(send, 200, echo_responses.response(payload.get("model"), parts))
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        raw = b"".join(
            b"event: " + e["type"].encode() + b"\ndata: " + json.dumps(e).encode() + b"\n\n"
            for e in echo_responses.events(payload.get("model"), parts)
        )
        for i in range(0, len(raw), self.byte_chunk):
            await send({"type": "http.response.body", "body": raw[i : i + self.byte_chunk], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
