"""uvicorn's httptools protocol with the limits uvicorn lacks: a deadline for the request head, its size and
field count, and a last-resort deadline for the body.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but arms no timer while a
request head arrives: a client sending one byte a second (slowloris) holds a connection, and
every such connection a file descriptor and a parser buffer, for ever. httptools has no limit
on the head's size or field count either. This protocol adds them:

- the head must be complete within ``header_timeout`` seconds of the connection opening (or of
  the first byte of a following request on a keep-alive connection); otherwise the connection
  is closed, after a 408 if any of the request had arrived;
- a head over ``max_header_count`` fields or ``max_header_bytes`` bytes (request line included)
  gets a 431 and the connection is closed; the app never sees it;
- a body still incomplete ``body_timeout`` + a grace after the head closes the connection (also
  when the app answered without reading it). The data plane answers 408 itself before then
  (``gateway.body_deadlines``); this is the bound for the admin API, whose framework reads
  bodies without a deadline;
- a request httptools cannot parse gets a JSON 400 instead of uvicorn's plain-text one.

The refusals are JSON in OpenAI's error shape, like every other answer of the gateway. The limits
come from the app (``Gateway.http_limits``, built from the settings), read once per connection.

:func:`raise_open_files_limit` is the process's side of the same job: every client connection,
upstream connection and Redis or database connection is a file descriptor, and most services start
with a soft limit of 1,024 (systemd's default), which a burst of a thousand requests exceeds.
"""

from __future__ import annotations

import asyncio
import http
import logging
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import new_request_id
from vaultgate.gateway.http_limits import HttpLimits, headers_too_large, request_timeout

# The data plane's own 408 (with its request id) goes first; the protocol's deadline is a backstop.
BODY_GRACE_SECONDS = 2.0
# Open files a replica should be able to hold: a client connection, an upstream connection and some
# store connections per request in flight, for a few thousand at once. Below this, serve warns.
OPEN_FILES_WANTED = 8192
# Linux refuses a soft limit above fs.nr_open (1,048,576 by default) even when the hard one is unlimited.
_OPEN_FILES_CEILING = 1 << 20

log = logging.getLogger("vaultgate")


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (workers inherit it); the limit now.

    A burst of 1,000 requests under the usual soft limit of 1,024 ran out of descriptors: 993 answers 503
    ``limits_unavailable`` (no Redis connection could be opened), 502s and an opened circuit
    (tests/limits/test_burst.py starts its replica so). Raising the soft limit up to the hard one needs no
    privilege; the hard limit is the operator's (``LimitNOFILE=`` in a systemd unit, ``ulimit -Hn``).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else min(hard, _OPEN_FILES_CEILING)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:  # a platform with a lower ceiling: keep what there is
            log.warning("cannot raise the open files limit from %d to %d (%s)", soft, wanted, exc)
            return soft
        return wanted
    return soft


def _refusal_bytes(err: GatewayError) -> bytes:
    """A complete HTTP/1.1 response for ``err`` that closes the connection."""
    body = err.body()
    reason = http.HTTPStatus(err.status).phrase
    head = (
        f"HTTP/1.1 {err.status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"x-request-id: {new_request_id()}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` with head and body deadlines and head size limits (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = getattr(self.app, "http_limits", None)
        self.limits: HttpLimits = limits if isinstance(limits, HttpLimits) else HttpLimits()
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # between the start of a request (or of the connection) and its complete head
        self._head_bytes = 0  # bytes received while in the head (an upper bound of its size)
        self._head_fields = 0
        self._head_size = 0  # exact: request target and fields, as parsed
        self._request_begun = False
        self._refused = False

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head deadline with the connection: a client that sends nothing is closed too."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Disarm the timers with the connection."""
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed the parser; refuse a head that grows past the limits before it is complete."""
        if self._refused:
            return
        super().data_received(data)
        if self._refused or not self._in_head:
            return
        # httptools buffers an incomplete field without limit: bound what it may hold. The count is an
        # upper bound: a chunk that also ends a previous (pipelined) request's body counts whole.
        self._head_bytes += len(data)
        if self._head_bytes > self.limits.max_header_bytes or self._head_fields > self.limits.max_header_count:
            self._refuse(headers_too_large(self.limits))

    # Parser callbacks

    def on_message_begin(self) -> None:
        """A request starts: count its head afresh; on a keep-alive connection, start its head deadline."""
        super().on_message_begin()
        self._in_head = True
        self._request_begun = True
        self._head_bytes = self._head_fields = self._head_size = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        """Count the request target into the head's size."""
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count a header field (4 bytes for ": " and CRLF, as on the wire)."""
        self._head_fields += 1
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is in: stop its deadline, refuse it if too large, else start the body deadline and the app."""
        self._in_head = False
        self._cancel_head_timer()
        if self._head_fields > self.limits.max_header_count or self._head_size > self.limits.max_header_bytes:
            self._refuse(headers_too_large(self.limits))
            return
        self._arm_body_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """Body bytes, unless the request was refused (then there is no request cycle to give them to)."""
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        """The body is in: stop its deadline."""
        self._cancel_body_timer()
        if not self._refused:
            super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket upgrade (a realtime session) leaves HTTP, and with it the head and body deadlines."""
        self._cancel_head_timer()
        self._cancel_body_timer()
        super().handle_websocket_upgrade()

    def shutdown(self) -> None:
        """The server is shutting down: the app starts draining (it ends what still runs when its drain
        time is up, with an SSE error event or a 503), then this connection takes no new request."""
        drain = getattr(self.app, "begin_drain", None)
        if callable(drain):
            drain()
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        """A request httptools cannot parse: the 400 in OpenAI's shape (uvicorn's own is plain text)."""
        self._refuse(GatewayError(400, "invalid_request", "The request is not valid HTTP/1.1."))

    # Timers and refusals

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _arm_body_timer(self) -> None:
        self._cancel_body_timer()
        delay = self.limits.body_timeout + BODY_GRACE_SECONDS
        self._body_timer = self.loop.call_later(delay, self._body_timed_out)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._request_begun:
            self._refuse(request_timeout("head"))
        else:  # nothing of a request arrived: nothing to answer
            self._refused = True
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if not self.transport.is_closing():
            self.logger.info("Closing a connection whose request body did not arrive in time.")
            self._refused = True
            self.transport.close()

    def _refuse(self, err: GatewayError) -> None:
        """Answer ``err`` and close: the rest of what the client sends is never parsed."""
        self._refused = True
        self._cancel_head_timer()
        self._cancel_body_timer()
        if self.transport.is_closing():
            return
        # A pipelined request behind one whose answer is still being written: no bytes may go in between.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_refusal_bytes(err))
        self.transport.close()
