"""A generic OpenAI-shaped object upstream for ownership tests: any path answers a JSON object.

A create (an endpoint whose catalogue entry ``creates`` a kind) answers a fresh id of that
kind (as a ``response.created`` stream when asked to stream); a list answers every object of
its kind created so far, whoever created it (one shared provider key sees everything: that is
what the gateway must filter); anything else answers ``{"id": <last path id>}``. Plug it in
as ``CaptureUpstream.respond``; it records nothing itself.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import defaultdict
from typing import Any

from tests.support.upstream import Captured
from vaultgate.gateway.endpoints import match

PREFIXES = {
    "file": "file-",
    "upload": "upload_",
    "batch": "batch_",
    "response": "resp_",
    "chat_completion": "chatcmpl-",
    "conversation": "conv_",
    "vector_store": "vs_",
    "vector_store_file_batch": "vsfb_",
    "fine_tuning_job": "ftjob-",
    "container": "cntr_",
    "container_file": "cfile_",
}


class FreshIds:
    """The ``respond`` hook: fresh ids for creates, everything in lists."""

    def __init__(self) -> None:
        self._next = 1
        self.created: dict[str, list[str]] = defaultdict(list)
        # When set, a stream waits for this event after its ``response.created`` (a test's checkpoint).
        self.stream_gate: threading.Event | None = None

    def peek(self, kind: str) -> str:
        """The id the next create of ``kind`` will answer (ids are a counter, not a secret)."""
        return f"{PREFIXES[kind]}{self._next:06d}"

    def new_id(self, kind: str) -> str:
        object_id = self.peek(kind)
        self._next += 1
        self.created[kind].append(object_id)
        return object_id

    async def __call__(self, req: Captured, send: Any) -> bool:
        target = match(req.method, req.path)
        endpoint = target.endpoint
        payload = _json(req.body)
        if endpoint.creates is not None:
            object_id = self.new_id(endpoint.creates)
            document: dict[str, Any] = {"id": object_id, "object": endpoint.creates, "status": "completed"}
            tools = payload.get("tools") if isinstance(payload.get("tools"), list) else []
            if endpoint.name == "responses" and any(t.get("type") == "code_interpreter" for t in tools):
                # Code interpreter with an automatic container: the provider makes one.
                document["output"] = [{"type": "code_interpreter_call", "container_id": self.new_id("container")}]
            if payload.get("stream"):
                await _stream(send, document, self.stream_gate)
                return True
        elif endpoint.lists is not None:
            data = [{"id": i, "object": endpoint.lists} for i in self.created[endpoint.lists]]
            document = {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": False,
            }
        elif endpoint.name == "uploads.complete":
            document = {"id": target.params["upload_id"], "object": "upload", "file": {"id": self.new_id("file")}}
        elif endpoint.name == "batches.retrieve":
            document = {"id": target.params["batch_id"], "object": "batch", "output_file_id": self.new_id("file")}
        elif endpoint.name == "containers.files.list":
            document = {"object": "list", "data": [{"id": self.new_id("container_file")}], "has_more": False}
        else:
            last = list(target.params.values())[-1] if target.params else "none"
            document = {"id": last, "object": endpoint.name, "deleted": req.method == "DELETE"}
        await _json_answer(send, document)
        return True


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _json_answer(send: Any, document: dict[str, Any]) -> None:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def _stream(send: Any, response: dict[str, Any], gate: threading.Event | None) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    for kind in ("response.created", "response.completed"):
        event = {"type": kind, "sequence_number": 0, "response": {**response, "object": "response"}}
        frame = f"event: {kind}\ndata: {json.dumps(event)}\n\n".encode()
        await send({"type": "http.response.body", "body": frame, "more_body": True})
        if gate is not None and kind == "response.created":
            await asyncio.to_thread(gate.wait, 30)
    await send({"type": "http.response.body", "body": b""})
