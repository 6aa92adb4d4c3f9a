"""A client that hangs up while its request is in flight: the upstream request is abandoned at once
(its connection closed) and the key's concurrency slot is free for the next request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select
from tests.conftest import make_settings
from tests.support.process import initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream, capture

from vaultgate.server import build
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "take your time"}]}


class HangingUpstream(CaptureUpstream):
    """Never answers the first request; counts the connections the gateway closes; answers the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.hang_ups = 0
        self.hang = True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.hang:
            await super().__call__(scope, receive, send)
            return
        self.hang = False
        await capture(scope, receive)
        self.arrived.set()
        await receive()  # http.disconnect: the gateway closed the connection
        with self.lock:
            self.hang_ups += 1


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[ControlPlane, HangingUpstream, str]]:
    upstream = HangingUpstream()
    upstream_server = ThreadedServer(upstream).start()
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'vaultgate.db'}")
    cp = initialised(settings, upstream_server.url)
    server = ThreadedServer(build(settings)).start()
    yield cp, upstream, server.url
    server.stop()
    upstream_server.stop()
    cp.store.dispose()


def test_a_client_hanging_up_abandons_the_upstream_request_and_frees_its_slot(
    gateway: tuple[ControlPlane, HangingUpstream, str],
) -> None:
    cp, upstream, url = gateway
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice", limits={"concurrency": 1}).token
    deadline = time.monotonic() + 10
    while httpx.get(url + "/healthz").json()["revision"] < cp.store.revision():
        assert time.monotonic() < deadline
        time.sleep(0.02)

    body = orjson.dumps(CHAT)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        assert upstream.arrived.wait(10), "the request never reached the upstream"
    # The client is gone: the gateway must close its upstream connection without waiting for an answer.
    deadline = time.monotonic() + 10
    while upstream.hang_ups == 0:
        assert time.monotonic() < deadline, "the upstream request went on after the client left"
        time.sleep(0.02)
    # ... and the one concurrency slot is free again.
    answer = httpx.post(url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while True:
        with cp.store.session() as session:
            statuses = sorted(session.scalars(select(UsageEvent.status)).all())
        if len(statuses) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert statuses == [200, 499]
