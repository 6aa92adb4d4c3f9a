"""A misbehaving OpenAI-shaped upstream on loopback: raw asyncio, so it can break HTTP on purpose.

    faults = FaultUpstream().start()
    faults.script("status_429", "ok")     # the next requests get these modes, in order
    faults.default = "ok"                 # every request after the script
    ... faults.count("status_429") == 1, faults.requests[-1].body ...
    faults.stop()

Modes (a name, or ``Fault(name, **options)`` for options):

- ``ok``: a chat completion (an SSE stream when the body asks for one; a model list for ``GET .../models``);
- ``slow``: reads the request, never answers (until the client leaves or the server stops);
- ``reset_before_body``: reads the head only, then resets the connection;
- ``reset_after_body``: reads the whole request, then resets the connection;
- ``close_after_body``: reads the whole request, then closes the connection (no answer);
- ``status_429`` (``retry_after`` seconds, ``retry_after_ms``), ``status_500``, ``status_503``, ``status_401``
  (an OpenAI error object each);
- ``truncated_stream``: a 200 SSE stream (chunked) cut off after two events;
- ``html``: a 200 HTML page; ``html_502``: a 502 HTML page; ``garbage``: a 200 claiming JSON that is not;
- ``error_200``: a 200 whose body is an OpenAI error object;
- ``endless``: a 200 JSON body that never ends; ``endless_event``: an SSE stream with one event that never ends;
- ``redirect`` (``location``): a 307 to another URL;
- ``oversized_headers``: a 200 whose head is larger than any client accepts.

Every request is recorded (method, path, body, the mode it got) once its head was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fault:
    """A mode and its options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    body: bytes
    mode: str

    def json(self) -> Any:
        return json.loads(self.body)


def completion(model: str = "gpt-4o", text: str = "from the fault server") -> dict[str, Any]:
    return {
        "id": "chatcmpl-f",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }


def _error(message: str, code: str, kind: str = "server_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


def _chunk(model: str, text: str) -> bytes:
    event = {
        "id": "chatcmpl-f",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return b"data: " + json.dumps(event).encode() + b"\n\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class FaultUpstream:
    """The server; its loop runs in a daemon thread. ``label`` tells two instances apart in answers."""

    def __init__(self, label: str = "faults") -> None:
        self.label = label
        self.default: str | Fault = "ok"
        self.requests: list[Received] = []
        # Set whenever a request's head was read (clear it to wait for the next one).
        self.arrived = threading.Event()
        self._script: deque[str | Fault] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._stopping: asyncio.Event | None = None
        self.port = 0

    # -- control (from the test's thread) --

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():  # stopped already (a test may stop it to make it unreachable)
            return

        async def close() -> None:
            assert self._server is not None and self._stopping is not None
            self._stopping.set()
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def script(self, *modes: str | Fault) -> None:
        """The modes the next requests get, in order (then ``default``)."""
        with self._lock:
            self._script.extend(modes)

    def count(self, mode: str | None = None) -> int:
        """Requests received (with ``mode``: those answered in that mode)."""
        with self._lock:
            if mode is None:
                return len(self.requests)
            return Counter(r.mode for r in self.requests)[mode]

    # -- the server (on its loop) --

    async def _open(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def _next(self) -> Fault:
        with self._lock:
            mode = self._script.popleft() if self._script else self.default
        return mode if isinstance(mode, Fault) else Fault(mode)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is to end."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        fault = self._next()
        length = int(headers.get("content-length", "0"))
        if fault.name == "reset_before_body":
            self._record(method, path, b"", fault)
            _reset(writer)
            return False
        body = await reader.readexactly(length) if length else b""
        self._record(method, path, body, fault)
        return await self._answer(fault, method, path, body, reader, writer)

    def _record(self, method: str, path: str, body: bytes, fault: Fault) -> None:
        with self._lock:
            self.requests.append(Received(method, path, body, fault.name))
        self.arrived.set()

    async def _answer(
        self,
        fault: Fault,
        method: str,
        path: str,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        name, opts = fault.name, fault.options
        payload = json.loads(body) if body.startswith(b"{") else {}
        model = payload.get("model", "gpt-4o")
        if name == "ok":
            if method == "GET" and path.endswith("/models"):
                models = [{"id": "gpt-4o", "object": "model", "created": 1, "owned_by": self.label}]
                return await _send(writer, 200, json.dumps({"object": "list", "data": models}).encode())
            if payload.get("stream"):
                await self._stream(writer, [_chunk(model, f"{self.label} "), _chunk(model, "streams")], done=True)
                return True
            return await _send(writer, 200, json.dumps(completion(model, f"from {self.label}")).encode())
        if name == "slow":
            stopping = self._stopping
            assert stopping is not None
            gone = asyncio.ensure_future(reader.read(1))
            stop = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({gone, stop}, return_when=asyncio.FIRST_COMPLETED)
            gone.cancel()
            stop.cancel()
            return False
        if name == "reset_after_body":
            _reset(writer)
            return False
        if name == "close_after_body":
            writer.close()
            return False
        if name == "status_429":
            extra = []
            if "retry_after" in opts:
                extra.append(("retry-after", str(opts["retry_after"])))
            if "retry_after_ms" in opts:
                extra.append(("retry-after-ms", str(opts["retry_after_ms"])))
            return await _send(writer, 429, _error("Slow down.", "rate_limit_exceeded", "requests"), extra)
        if name in ("status_500", "status_503"):
            return await _send(writer, int(name[-3:]), _error("The server had an error.", "server_error"))
        if name == "status_401":
            return await _send(
                writer, 401, _error("Incorrect API key provided.", "invalid_api_key", "invalid_request_error")
            )
        if name == "truncated_stream":
            await self._stream(writer, [_chunk(model, "half "), _chunk(model, "a story")], done=False)
            _reset(writer)
            return False
        if name == "html":
            return await _send(writer, 200, b"<html><body>Welcome to nginx!</body></html>", content_type="text/html")
        if name == "html_502":
            return await _send(writer, 502, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if name == "garbage":
            return await _send(writer, 200, b"\x00\x17 not json at all {")
        if name == "error_200":
            return await _send(writer, 200, _error("The engine is overloaded.", "engine_overloaded"))
        if name == "endless":
            writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"id": "')
            await _forever(writer, b"a" * 65536)
            return False
        if name == "endless_event":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\ndata: ")
            await _forever(writer, b"a" * 65536)
            return False
        if name == "redirect":
            location = opts["location"]
            return await _send(writer, 307, b"", [("location", location)])
        if name == "oversized_headers":
            return await _send(writer, 200, b"{}", [("x-padding", "p" * 200_000)])
        raise ValueError(f"unknown fault mode {name!r}")

    async def _stream(self, writer: asyncio.StreamWriter, events: list[bytes], *, done: bool) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for event in events:
            writer.write(_chunked(event))
            await writer.drain()
        if done:
            writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()


async def _send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    extra: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
) -> bool:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in extra or [])
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()
    return True


async def _forever(writer: asyncio.StreamWriter, piece: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        while not writer.transport.is_closing():
            writer.write(piece)
            await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashing upstream or a load balancer does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
