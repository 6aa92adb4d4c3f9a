"""Which whole upstream answers are relayed as they are, and which the gateway refuses or re-labels."""

from __future__ import annotations

import orjson
import pytest

from vaultgate.gateway.answer_checks import whole_answer_status
from vaultgate.gateway.endpoints import match
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange


def exchange(method: str, path: str) -> Exchange:
    ex = Exchange(method, path, b"", {}, None)
    ex.target = match(method, path, path.encode())
    return ex


CHAT = exchange("POST", "/v1/chat/completions")


@pytest.mark.parametrize(
    ("ex", "content_type", "body"),
    [
        (exchange("GET", "/v1/files/file-abc/content"), b"text/html", b"<html>an uploaded page</html>"),
        (exchange("POST", "/v1/audio/speech"), b"audio/mpeg", b"\xff\xfb\x90garbage-looking mp3"),
        (exchange("POST", "/v1/audio/transcriptions"), b"text/plain; charset=utf-8", b"just the words"),
        (exchange("DELETE", "/v1/files/file-abc"), b"", b""),
        # A stored response that failed is a success to fetch: its "error" sits beside other fields.
        (exchange("GET", "/v1/responses/resp_1"), b"application/json", b'{"id": "resp_1", "error": {"code": "x"}}'),
    ],
)
def test_answers_that_pass_as_they_are(ex: Exchange, content_type: bytes, body: bytes) -> None:
    status = 204 if ex.method == "DELETE" else 200
    assert whole_answer_status(ex, status, content_type, body, []) == status


@pytest.mark.parametrize(
    ("content_type", "body"),
    [(b"text/html; charset=utf-8", b"<html>login</html>"), (b"application/json", b"{oops"), (b"", b"plain")],
)
def test_a_success_that_is_not_an_api_answer_is_refused(content_type: bytes, body: bytes) -> None:
    with pytest.raises(GatewayError) as raised:
        whole_answer_status(CHAT, 200, content_type, body, [])
    assert (raised.value.status, raised.value.code) == (502, "upstream_invalid_response")


def test_a_success_that_is_only_an_error_object_is_a_502() -> None:
    body = orjson.dumps({"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}})
    assert whole_answer_status(CHAT, 200, b"application/json", body, []) == 502


def test_an_error_page_keeps_its_status_and_retry_after() -> None:
    with pytest.raises(GatewayError) as raised:
        whole_answer_status(CHAT, 429, b"text/html", b"<html>slow down</html>", [(b"retry-after", b"7")])
    assert (raised.value.status, raised.value.code) == (429, "upstream_error")
    assert raised.value.headers == [(b"retry-after", b"7")]
    assert b"<html>" not in raised.value.body()
