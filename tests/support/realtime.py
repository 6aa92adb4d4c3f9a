"""A realtime (WebSocket) upstream that plays OpenAI's Realtime API closely enough for the SDK."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]


@dataclass
class RealtimeSessionLog:
    """One session as the upstream saw it."""

    path: str
    query: bytes
    headers: dict[str, str]
    events: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str | bytes] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)


@dataclass
class RealtimeUpstream:
    """Accepts a session only with ``Bearer <key>``; answers ``response.create`` with the last item's
    text and a ``response.done`` carrying usage (5 in, 3 out); ``say`` makes it send that text as an event."""

    key: str
    sessions: list[RealtimeSessionLog] = field(default_factory=list)
    say: str | None = None
    opened: threading.Event = field(default_factory=threading.Event)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        log = RealtimeSessionLog(scope["path"], scope.get("query_string", b""), headers)
        if (await receive())["type"] != "websocket.connect":
            return
        if headers.get("authorization") != f"Bearer {self.key}":
            await send({"type": "websocket.close", "code": 1008})
            return
        self.sessions.append(log)
        await send({"type": "websocket.accept"})
        await self._event(send, {"type": "session.created", "event_id": "evt_1", "session": {"id": "sess_1"}})
        self.opened.set()
        last_text = ""
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("text") if message.get("text") is not None else message.get("bytes")
                log.raw.append(data)
                if not isinstance(data, str):
                    continue
                event = json.loads(data)
                log.events.append(event)
                if event.get("type") == "conversation.item.create":
                    parts = event["item"].get("content", [])
                    last_text = " ".join(p.get("text", "") for p in parts)
                elif event.get("type") == "response.create":
                    reply = self.say if self.say is not None else "heard: " + last_text
                    await self._event(send, {"type": "response.output_text.delta", "event_id": "evt_2", "delta": reply})
                    done = {
                        "type": "response.done",
                        "event_id": "evt_3",
                        "response": {
                            "id": "resp_1",
                            "status": "completed",
                            "usage": {"input_tokens": 5, "output_tokens": 3},
                        },
                    }
                    await self._event(send, done)
        finally:
            log.closed.set()

    @staticmethod
    async def _event(send: Any, event: dict[str, Any]) -> None:
        await send({"type": "websocket.send", "text": json.dumps(event)})
