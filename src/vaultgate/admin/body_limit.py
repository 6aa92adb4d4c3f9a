"""A size cap on admin API request bodies, enforced before FastAPI reads them.

FastAPI reads and parses a route's whole body before any dependency runs, so without a cap an
unauthenticated caller could make the process hold an arbitrarily large body in memory. The
largest legitimate body (a leak report of 10,000 fingerprints) is under 1 MiB.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_ADMIN_BODY_BYTES = 2 * 1024 * 1024


class BodyTooLarge(Exception):
    """The request body is larger than the admin API accepts (413)."""


class BodyLimit:
    """Refuses a declared ``Content-Length`` over the cap at once, and stops reading a body that grows past it."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_ADMIN_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BodyTooLarge
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited, send)
