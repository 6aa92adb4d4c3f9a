"""Webhooks go to the checked address only: a receiver's redirect is a failed delivery, never followed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from tests.support.webhook import WebhookSink

from vaultgate.services.notify import Notifier


class Redirector:
    """Answers every POST with ``status`` and a Location elsewhere."""

    def __init__(self, status: int, location: str) -> None:
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                outer.posts += 1
                self.send_response(status)
                self.send_header("location", location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    # Count GETs too: urllib turns a redirected POST into a GET.
    gets: list[str] = []
    handler = sink.server.RequestHandlerClass
    handler.do_GET = lambda self: (gets.append(self.path), self.send_response(200), self.end_headers())  # type: ignore[attr-defined]
    sink.gets = gets  # type: ignore[attr-defined]
    yield sink
    sink.close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirecting_receiver_is_a_failed_delivery_and_is_not_followed(
    status: int, elsewhere: WebhookSink, caplog: pytest.LogCaptureFixture
) -> None:
    redirector = Redirector(status, elsewhere.url)
    try:
        delivered = Notifier(redirector.url).deliver({"event": "audit.anchor", "seq": 1})
    finally:
        redirector.close()
    assert delivered is False
    assert redirector.posts == 1
    assert elsewhere.events == [] and elsewhere.gets == []  # type: ignore[attr-defined]
    assert "webhook for audit.anchor failed: HTTPError" in caplog.text


def test_a_receiver_that_answers_2xx_is_delivered(elsewhere: WebhookSink) -> None:
    assert Notifier(elsewhere.url).deliver({"event": "audit.anchor", "seq": 1}) is True
    assert [e["seq"] for e in elsewhere.events] == [1]
