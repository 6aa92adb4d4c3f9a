"""Protocol edges (issue 9, class 8) against a real ``vaultgate serve``, over raw sockets where a client library would
refuse to misbehave: slow heads and bodies, oversized heads, bodies sent to a gateway that has not accepted the key,
repeated credentials, and failures the gateway did not expect.

The gateway runs with short timeouts (set through the environment, as an operator would); the tests
assert what the client sees (an answer, a closed connection), never how long it took.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.attacks.conftest import RawResponse, RecordingUpstream, Served

PROTOCOL_ENV = {
    "VAULTGATE_HEADER_TIMEOUT": "1",
    "VAULTGATE_BODY_IDLE_TIMEOUT": "1",
    "VAULTGATE_BODY_TIMEOUT": "3",
    "VAULTGATE_MAX_HEADER_COUNT": "100",
    "VAULTGATE_MAX_HEADER_BYTES": "32768",
}
# How long a test waits for the server before it calls the server stuck (far above the timeouts above).
PATIENCE = 20.0
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def protocol_env() -> Iterator[None]:
    """The short timeouts, in the environment the gateway process inherits."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in PROTOCOL_ENV.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def served(protocol_env: None, served: Served) -> Served:
    """The attack suite's gateway, started with :data:`PROTOCOL_ENV`."""
    return served


@pytest.fixture(scope="module")
def member_key(served: Served) -> str:
    return served.key(served.member(team=served.team()))


def connect(served: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.process.port), timeout=PATIENCE)
    return sock


def head(method: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_response(sock: socket.socket) -> RawResponse | None:
    """One response from ``sock`` (None if the server closed without answering)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    raw_head, _, body = data.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return RawResponse(status, headers, body)


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed the connection (everything it sent before is read and dropped)."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def trickle(sock: socket.socket, data: bytes, every: float = 0.3) -> bytes:
    """Send ``data`` a byte at a time until the server answers or closes; what it sent back (b"" if it
    closed silently). Fails if all of ``data`` went out and the server still holds the connection."""
    for byte in data:
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            received = b""
            try:
                while chunk := sock.recv(65536):
                    received += chunk
            except (ConnectionResetError, TimeoutError):
                pass
            return received
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return b""
    raise AssertionError("the server kept a trickling connection open for the whole request")


def parse(received: bytes) -> RawResponse:
    raw_head, _, body = received.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return RawResponse(int(lines[0].split(" ")[1]), headers, body)


# --- slow heads (slowloris) ---


def test_a_head_sent_a_byte_at_a_time_is_cut_off_at_its_deadline(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        # 60 bytes at ~3 a second outlast the 1 s header timeout many times over.
        received = trickle(sock, b"X-Padding: " + b"a" * 50 + b"\r\n")
    if received:  # an answer before closing is optional; if there is one, it is a 408 in OpenAI's shape
        response = parse(received)
        assert response.status == 408
        assert response.error()["code"] == "request_timeout"
        assert response.headers["connection"] == "close"


def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    with connect(served) as sock:
        assert closed_by_server(sock), "an idle connection without a request was held open"


# --- slow bodies ---


def test_a_stalled_body_gets_408_in_openai_shape(served: Served, member_key: str) -> None:
    body = json.dumps(CHAT).encode()
    with connect(served) as sock:
        headers = [
            ("Authorization", f"Bearer {member_key}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ]
        sock.sendall(head("POST", "/v1/chat/completions", headers) + body[:10])
        response = read_response(sock)  # and then nothing more is sent
        assert response is not None
        assert response.status == 408
        assert response.error()["code"] == "request_timeout"
        assert response.headers["x-request-id"].startswith("req_")
        assert closed_by_server(sock)


def test_a_trickled_body_gets_408_at_its_overall_deadline(served: Served, member_key: str) -> None:
    body = json.dumps({**CHAT, "user": "x" * 200}).encode()
    with connect(served) as sock:
        headers = [
            ("Authorization", f"Bearer {member_key}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
        ]
        sock.sendall(head("POST", "/v1/chat/completions", headers))
        # Each byte comes well within the idle timeout; the whole body would take over a minute.
        received = trickle(sock, body)
    response = parse(received)
    assert response.status == 408
    assert response.error()["code"] == "request_timeout"


# --- oversized heads ---


def test_too_many_header_fields_get_431(served: Served, member_key: str) -> None:
    headers = [("Authorization", f"Bearer {member_key}"), *((f"X-Field-{i}", "1") for i in range(150))]
    with connect(served) as sock:
        sock.sendall(head("GET", "/v1/models", headers))
        response = read_response(sock)
        assert response is not None
        assert response.status == 431
        assert response.error()["code"] == "request_header_fields_too_large"
        assert closed_by_server(sock)


def test_a_header_field_too_large_gets_431(served: Served, member_key: str) -> None:
    headers = [("Authorization", f"Bearer {member_key}"), ("X-Large", "a" * 40_000)]
    with connect(served) as sock:
        sock.sendall(head("GET", "/v1/models", headers))
        response = read_response(sock)
        assert response is not None
        assert response.status == 431
        assert response.error()["code"] == "request_header_fields_too_large"


def test_an_endless_header_field_is_refused_before_it_ends(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        refused = None
        for _ in range(64):  # up to 4 MB, never ending the field
            try:
                sock.sendall(b"a" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                break
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                refused = read_response(sock)
                break
        else:
            raise AssertionError("the server kept buffering a header field of 4 MB")
    if refused is not None:
        assert refused.status == 431
        assert refused.error()["code"] == "request_header_fields_too_large"


def test_a_request_that_is_not_http_gets_json(served: Served) -> None:
    with connect(served) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n\r\n")
        response = read_response(sock)
        assert response is not None
        assert response.status == 400
        assert response.error()["code"] == "invalid_request"


# --- the key before the body ---


@pytest.mark.parametrize("authorization", [None, "Bearer vgk_not-a-real-key"])
def test_an_unauthenticated_large_body_gets_401_before_it_is_sent(
    served: Served, upstream: RecordingUpstream, authorization: str | None
) -> None:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(20 * 1024 * 1024 - 1))]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    with connect(served) as sock:
        sock.sendall(head("POST", "/v1/chat/completions", headers) + b'{"model": "gpt-4o", "messages": [' + b" " * 1000)
        response = read_response(sock)  # the socket stays open; 20 MB are still owed
        assert response is not None, "the gateway waited for the body of an unauthenticated request"
        assert response.status == 401
        assert response.error()["code"] == "invalid_api_key"
        assert response.headers["connection"] == "close"
    assert upstream.requests == []


# --- one credential per request ---


@pytest.mark.parametrize("valid_first", [True, False])
def test_v1_refuses_repeated_authorization(
    served: Served, upstream: RecordingUpstream, member_key: str, valid_first: bool
) -> None:
    other = served.key(served.member(team=served.team()))
    pair = [("Authorization", f"Bearer {member_key}"), ("Authorization", f"Bearer {other}")]
    if not valid_first:
        pair = [("Authorization", "Bearer vgk_garbage"), pair[0]]
    response = httpx.post(served.base_url + "/chat/completions", json=CHAT, headers=pair)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"] == "Send exactly one Authorization header."
    assert upstream.requests == []


def test_v1_refuses_authorization_and_api_key_that_disagree(
    served: Served, upstream: RecordingUpstream, member_key: str
) -> None:
    headers = {"Authorization": f"Bearer {member_key}", "api-key": "vgk_someone-else"}
    response = httpx.post(served.base_url + "/chat/completions", json=CHAT, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == "Send exactly one Authorization header."
    same = {"Authorization": f"Bearer {member_key}", "api-key": member_key}
    assert httpx.post(served.base_url + "/chat/completions", json=CHAT, headers=same).status_code == 200
    assert len(upstream.requests) == 1


def test_admin_refuses_repeated_authorization(served: Served) -> None:
    """Depends on the admin side of the rule (admin/auth.py, the roles branch)."""
    admin = served.admin_token(served.member(team=served.team(), role="admin"))
    for pair in (
        [("Authorization", f"Bearer {admin}"), ("Authorization", "Bearer vga_garbage")],
        [("Authorization", "Bearer vga_garbage"), ("Authorization", f"Bearer {admin}")],
    ):
        response = httpx.get(served.url + "/admin/me", headers=pair)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert error["message"] == "Send exactly one Authorization header."


# --- unexpected failures ---


def test_an_upstream_answer_that_breaks_a_stage_gets_a_json_500(
    served: Served, upstream: RecordingUpstream, member_key: str
) -> None:
    # Nesting orjson parses (up to 1024) but will not serialise (over 254): the model-list filter fails on it.
    deep = "[" * 400 + "]" * 400
    marker = "hostile-marker-" + str(time.time_ns())

    async def nested_models(captured: Any, send: Any) -> bool:
        body = f'{{"object": "list", "data": [], "{marker}": {deep}}}'.encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return True

    upstream.respond = nested_models
    client = openai.OpenAI(base_url=served.base_url, api_key=member_key, max_retries=0)
    with pytest.raises(openai.InternalServerError) as raised:
        client.models.list()
    response = raised.value.response
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "internal_error"
    request_id = response.headers["x-request-id"]
    log = served.process.output()
    assert request_id in log  # the failure is findable by its request id
    assert marker not in log


def test_azure_paths_take_the_api_key_header_and_refuse_a_second_credential_the_admin_plane_does_not(
    served: Served, upstream: RecordingUpstream, member_key: str
) -> None:
    url = served.url + "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    other = served.key(served.member(team=served.team()))
    for headers in (
        {"api-key": member_key, "Authorization": f"Bearer {other}"},
        {"api-key": other, "Authorization": f"Bearer {member_key}"},
        {"api-key": member_key, "Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = httpx.post(url, json=CHAT, headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["param"]) == ("invalid_request", "authorization")
    assert upstream.requests == []
    assert httpx.post(url, json=CHAT, headers={"api-key": member_key}).status_code == 200
    assert httpx.post(url, json=CHAT, headers={"api-key": "vgk_garbage"}).status_code == 401
    assert [r.path for r in upstream.requests] == ["/v1/chat/completions"]
    assert member_key not in upstream.everything().decode()
    # The admin plane stays bearer-only.
    admin = served.admin_token(served.member(team=served.team(), role="admin"))
    assert httpx.get(served.url + "/admin/me", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    response = httpx.get(served.url + "/admin/me", headers={"api-key": admin})
    assert response.status_code == 401
