"""Every admin API failure has the one error shape and a snake_case code; FastAPI's ``{"detail": ...}`` never appears."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import Stack

from vaultgate.services import members

SHAPE = {"message", "type", "param", "code"}


def call(stack: Stack, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {stack.admin_token}", **(headers or {})}
    return httpx.request(method, stack.gateway.url + path, headers=headers, **kw)


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == SHAPE, body
    assert body["error"]["code"] == code
    return body["error"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/admin/nope", 404, "unknown_url"),
        ("GET", "/admin", 404, "unknown_url"),
        ("GET", "/admin/keys/", 404, "unknown_url"),  # no redirects: one spelling of every route
        ("DELETE", "/admin/keys", 405, "method_not_allowed"),
        ("DELETE", "/admin/lockdown", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods(stack: Stack, method: str, path: str, status: int, code: str) -> None:
    assert_error(call(stack, method, path), status, code)


def test_bad_json_and_bad_fields(stack: Stack) -> None:
    bad_json = call(stack, "POST", "/admin/members", content=b'{"name": ', headers={"content-type": "application/json"})
    assert_error(bad_json, 400, "invalid_json")
    wrong_type = call(stack, "POST", "/admin/members", json={"name": 5})
    assert assert_error(wrong_type, 400, "invalid_input")["param"] == "name"
    unknown_field = call(stack, "POST", "/admin/members", json={"name": "x", "admin": True})
    assert_error(unknown_field, 400, "invalid_input")
    unknown_query = call(stack, "GET", "/admin/members", params={"all": "1"})
    assert_error(unknown_query, 400, "invalid_input")
    assert "detail" not in bad_json.text + wrong_type.text + unknown_field.text


@pytest.mark.parametrize("duration", ["99999999999d", "9" * 5000 + "s", "3654d", "-1d", "1y", "\u0661\u0662d"])
def test_durations_are_bounded(stack: Stack, duration: str) -> None:
    stack.member("alice")
    resp = call(stack, "POST", "/admin/keys", json={"member": "alice", "expires_in": duration})
    assert_error(resp, 400, "invalid_input")
    assert_error(
        call(stack, "POST", "/admin/tokens", json={"member": "admin", "expires_in": duration}), 400, "invalid_input"
    )


def test_service_codes_are_snake_case(stack: Stack) -> None:
    stack.member("alice")
    assert_error(call(stack, "POST", "/admin/members/nobody/suspend"), 404, "not_found")
    assert_error(call(stack, "POST", "/admin/members", json={"name": "alice"}), 409, "conflict")
    assert_error(call(stack, "POST", "/admin/members/admin/suspend"), 403, "permission_denied")
    assert_error(
        call(stack, "GET", "/admin/keys", headers={"authorization": "Bearer vga_x"}), 401, "invalid_admin_token"
    )


def test_repeated_authorization_headers_are_refused(stack: Stack) -> None:
    resp = httpx.get(
        stack.gateway.url + "/admin/me",
        headers=[("authorization", f"Bearer {stack.admin_token}"), ("authorization", f"Bearer {stack.admin_token}")],
    )
    error = assert_error(resp, 400, "invalid_request")
    assert "exactly one Authorization header" in str(error["message"])


def test_an_unexpected_failure_is_a_json_500_logged_by_type_only(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> object:
        raise RuntimeError("secret-ish detail sk-should-not-be-logged")

    monkeypatch.setattr(members, "list_members", broken)
    with caplog.at_level(logging.DEBUG):
        resp = call(stack, "GET", "/admin/members")
    error = assert_error(resp, 500, "internal_error")
    assert error["type"] == "server_error"
    assert "sk-should-not-be-logged" not in resp.text and "sk-should-not-be-logged" not in caplog.text
    assert "RuntimeError" in caplog.text


def test_the_openapi_document_declares_the_error_shape_on_every_route(stack: Stack) -> None:
    spec = httpx.get(stack.gateway.url + "/admin/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "401", "403", "404", "409", "422"):
                ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorBody"), (method, path, status)
    assert "HTTPValidationError" not in str(spec)


def test_nul_characters_are_refused_everywhere(stack: Stack) -> None:
    """PostgreSQL text cannot hold NUL: refused as input (400), never a database error (500)."""
    body = call(stack, "POST", "/admin/members", json={"name": "x", "email": "a\x00@example.com"})
    assert_error(body, 400, "invalid_input")
    assert_error(call(stack, "GET", "/admin/keys", params={"member": "a\x00b"}), 400, "invalid_input")
    assert_error(call(stack, "POST", "/admin/members/a%00b/suspend"), 400, "invalid_input")
    assert_error(call(stack, "POST", "/admin/keys", json={"member": "alice", "name": "k\x00"}), 400, "invalid_input")
    too_long = call(stack, "POST", "/admin/members", json={"name": "x", "email": "a" * 400 + "@example.com"})
    assert_error(too_long, 400, "invalid_input")


def test_an_unparseable_provider_url_is_a_400(stack: Stack) -> None:
    resp = call(stack, "POST", "/admin/providers", json={"name": "p2", "kind": "compatible", "base_url": "http://[::1"})
    assert_error(resp, 400, "invalid_input")


@pytest.mark.parametrize(
    "body", [b'{"member": "alice", "privacy": {"x": NaN}}', b'{"member": "alice", "x": [Infinity]}']
)
def test_nan_and_infinity_are_not_json(stack: Stack, body: bytes) -> None:
    resp = call(stack, "POST", "/admin/keys", content=body, headers={"content-type": "application/json"})
    assert "finite" in str(assert_error(resp, 400, "invalid_input")["message"])


def test_a_huge_body_is_refused_before_it_is_read(stack: Stack) -> None:
    declared = call(
        stack,
        "POST",
        "/admin/keys/leaked",
        content=b"x" * (3 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert_error(declared, 413, "request_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap counts what arrives
        for _ in range(48):
            yield b" " * 65536

    streamed = call(stack, "POST", "/admin/keys/leaked", content=chunks(), headers={"content-type": "application/json"})
    assert_error(streamed, 413, "request_too_large")
    no_token = httpx.post(stack.gateway.url + "/admin/members", content=b"x" * (3 * 1024 * 1024))
    assert_error(no_token, 413, "request_too_large")
