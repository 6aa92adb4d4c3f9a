"""Pooled upstream connections are not used again once idle for as long as upstreams keep them.

uvicorn (as vLLM and most OpenAI-compatible servers run) closes a keep-alive connection idle for
5 s. A gateway that reuses one at that moment sends a POST into a closing connection and must
answer 502 (the request may have arrived: it is never resent). The pool lets connections go
before that (``KEEPALIVE_SECONDS``); this test asks the upstream which connection each request
came on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.servers import ThreadedServer
from vaultgate.upstream.http import KEEPALIVE_SECONDS, UpstreamClient

UVICORN_IDLE_SECONDS = 5  # uvicorn's default timeout_keep_alive


class PortRecorder:
    """An ASGI app answering ``{}`` and recording the client port of each request (one per connection)."""

    def __init__(self) -> None:
        self.ports: list[int] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.ports.append(scope["client"][1])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def recorder() -> Iterator[tuple[PortRecorder, ThreadedServer]]:
    app = PortRecorder()
    server = ThreadedServer(app).start()
    assert server.server.config.timeout_keep_alive == UVICORN_IDLE_SECONDS
    yield app, server
    server.stop()


def test_a_connection_idle_past_the_keepalive_is_not_reused(recorder: tuple[PortRecorder, ThreadedServer]) -> None:
    app, server = recorder
    assert KEEPALIVE_SECONDS < UVICORN_IDLE_SECONDS

    async def run() -> None:
        client = UpstreamClient(timeout=10, connect_timeout=10)
        await client.start()
        try:
            for pause in (0.0, 0.0, KEEPALIVE_SECONDS + 0.5):
                await asyncio.sleep(pause)
                response = await client.request("POST", server.url + "/v1/chat/completions", [], b"{}")
                assert response.status == 200
                await response.read()
        finally:
            await client.stop()

    asyncio.run(run())
    first, again, after_idle = app.ports
    assert again == first  # back to back: one pooled connection
    assert after_idle != first  # idle past the keep-alive: a new one, never one the upstream may be closing
