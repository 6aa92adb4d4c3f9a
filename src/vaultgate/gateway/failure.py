"""Unexpected failures: answered in the plane's own error shape, logged without their messages.

An exception's message can hold anything the failing code was looking at — a prompt, a
completion, a header value — so the log gets the exception's type and where it was raised
(file, line, function: no values), never ``str(exc)`` and never a formatted traceback, whose
last line is that message.
"""

from __future__ import annotations

import logging
import traceback

from vaultgate.gateway.asgi import Message, Send
from vaultgate.gateway.errors import GatewayError

log = logging.getLogger("vaultgate.gateway")

_CHAIN_LIMIT = 5  # causes and contexts followed, so a cycle cannot loop


def internal_error() -> GatewayError:
    """The 500 for a failure the gateway did not expect (the details are in the log, by request id)."""
    return GatewayError(
        500, "internal_error", "The gateway failed to handle this request; the error is logged with its request id."
    )


def describe(exc: BaseException) -> str:
    """The exception's type and the frames it passed through, with no message and no values."""
    parts: list[str] = []
    current: BaseException | None = exc
    for _ in range(_CHAIN_LIMIT):
        if current is None:
            break
        frames = traceback.extract_tb(current.__traceback__)
        where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in reversed(frames))
        parts.append(f"{type(current).__qualname__} at {where or 'unknown'}")
        current = current.__cause__ or current.__context__
    return "; caused by ".join(parts)


def log_failure(plane: str, request_id: str, exc: BaseException) -> None:
    """Log an unexpected failure: plane, request id, exception type and frames (never its message)."""
    log.error("unexpected failure on %s, request %s: %s", plane, request_id, describe(exc))


def sse_error_event(err: GatewayError) -> bytes:
    """An SSE event carrying ``err`` in OpenAI's shape (the SDKs raise it as ``APIError``)."""
    return b"data: " + err.body() + b"\n\n"


class ResponseTracker:
    """Wraps ``send`` to know whether a response started (and with which headers) and whether it ended."""

    __slots__ = ("_send", "finished", "start")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.start: Message | None = None
        self.finished = False

    @property
    def started(self) -> bool:
        """Whether the status line and headers went out."""
        return self.start is not None

    @property
    def event_stream(self) -> bool:
        """Whether the response under way is an SSE stream (looked up only when a failure needs it)."""
        if self.start is None:
            return False
        for name, value in self.start.get("headers", ()):
            if name.lower() == b"content-type":
                return bool(value.startswith(b"text/event-stream"))
        return False

    async def __call__(self, message: Message) -> None:
        """Pass ``message`` on, noting the start and the end of the response."""
        if message["type"] == "http.response.start":
            self.start = message
        elif not message.get("more_body", False):
            self.finished = True
        await self._send(message)


async def answer_failure(tracker: ResponseTracker, err: GatewayError, headers: list[tuple[bytes, bytes]]) -> None:
    """Answer ``err`` as JSON; when a response already started, end an event stream with it as an SSE
    event, or else leave the response incomplete (the server then closes the connection)."""
    if not tracker.started:
        body = err.body()
        await tracker(
            {
                "type": "http.response.start",
                "status": err.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *headers,
                ],
            }
        )
        await tracker({"type": "http.response.body", "body": body})
    elif tracker.event_stream and not tracker.finished:
        await tracker({"type": "http.response.body", "body": sse_error_event(err), "more_body": False})
