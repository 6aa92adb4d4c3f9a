"""Request hygiene: store:false, pseudonymous end-user ids, and the forwarded-header allowlist."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vaultgate.privacy.hygiene import apply, forwarded_headers

PSEUDONYM = "3f2a" * 16


def run(payload: dict[str, Any], endpoint: str, allow_store: bool = False) -> tuple[bool, dict[str, Any]]:
    body = copy.deepcopy(payload)
    changed = apply(body, endpoint, PSEUDONYM, allow_store)
    return changed, body


BASE = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("given", "expected"),
    [({"store": True}, False), ({"store": False}, False), ({}, None), ({"store": None}, None)],
)
def test_chat_completions_store_forced_false_only_when_true(given: dict[str, Any], expected: object) -> None:
    _, body = run({**BASE, **given, "safety_identifier": PSEUDONYM}, "chat/completions")
    assert body.get("store") is expected


@pytest.mark.parametrize("given", [{"store": True}, {}, {"store": None}])
def test_responses_store_forced_false_unless_explicitly_false(given: dict[str, Any]) -> None:
    # The Responses API stores by default, so a missing store must be set to false.
    changed, body = run({"model": "gpt-4o", "input": "hi", **given}, "responses")
    assert changed
    assert body["store"] is False


def test_responses_with_store_false_and_our_identifier_is_untouched() -> None:
    payload = {"model": "gpt-4o", "input": "hi", "store": False, "safety_identifier": PSEUDONYM}
    changed, body = run(payload, "responses")
    assert changed is False
    assert body == payload


@pytest.mark.parametrize("endpoint", ["chat/completions", "responses"])
def test_allow_store_leaves_store_alone(endpoint: str) -> None:
    changed, body = run({**BASE, "store": True, "safety_identifier": PSEUDONYM}, endpoint, allow_store=True)
    assert body["store"] is True
    assert changed is False
    _, body = run({**BASE, "safety_identifier": PSEUDONYM}, endpoint, allow_store=True)
    assert "store" not in body


@pytest.mark.parametrize("endpoint", ["chat/completions", "responses"])
def test_user_removed_and_safety_identifier_set(endpoint: str) -> None:
    changed, body = run({**BASE, "user": "alice@example.com", "store": False}, endpoint)
    assert changed
    assert "user" not in body
    assert body["safety_identifier"] == PSEUDONYM
    assert "alice@example.com" not in repr(body)


@pytest.mark.parametrize("endpoint", ["chat/completions", "responses"])
def test_client_safety_identifier_is_replaced(endpoint: str) -> None:
    changed, body = run({**BASE, "safety_identifier": "alice@example.com", "store": False}, endpoint)
    assert changed
    assert body["safety_identifier"] == PSEUDONYM


@pytest.mark.parametrize("endpoint", ["embeddings", "completions"])
def test_user_replaced_on_legacy_endpoints_only_if_present(endpoint: str) -> None:
    payload = {"model": "m", "input": "x", "user": "alice@example.com"}
    changed, body = run(payload, endpoint)
    assert changed
    assert body == {**payload, "user": PSEUDONYM}
    assert "safety_identifier" not in body

    payload = {"model": "m", "input": "x"}
    changed, body = run(payload, endpoint)
    assert changed is False
    assert body == payload


@pytest.mark.parametrize("endpoint", ["embeddings", "completions", "moderations"])
def test_no_store_on_endpoints_that_do_not_keep_requests(endpoint: str) -> None:
    changed, body = run({"model": "m", "input": "x"}, endpoint)
    assert changed is False
    assert "store" not in body


def test_legacy_user_already_pseudonymous_is_unchanged() -> None:
    changed, _body = run({"model": "m", "input": "x", "user": PSEUDONYM}, "embeddings")
    assert changed is False


def test_chat_without_identifier_is_changed_once_then_stable() -> None:
    changed, body = run({**BASE}, "chat/completions")
    assert changed
    assert body["safety_identifier"] == PSEUDONYM
    assert "store" not in body  # chat completions do not store unless asked
    changed_again, again = run(body, "chat/completions")
    assert changed_again is False
    assert again == body


def test_other_fields_are_untouched() -> None:
    payload = {**BASE, "temperature": 0.2, "stream": True, "metadata": {"a": "b"}, "user": "u"}
    _, body = run(payload, "chat/completions")
    assert {k: v for k, v in body.items() if k not in ("user", "safety_identifier")} == {
        k: v for k, v in payload.items() if k != "user"
    }


CLIENT_HEADERS = {
    b"authorization": b"Bearer vgk_secret",
    b"api-key": b"vgk_secret",
    b"cookie": b"session=1",
    b"openai-organization": b"org-123",
    b"openai-project": b"proj_123",
    b"x-forwarded-for": b"10.0.0.1",
    b"x-real-ip": b"10.0.0.1",
    b"forwarded": b"for=10.0.0.1",
    b"user-agent": b"OpenAI/Python 1.50.0",
    b"x-stainless-os": b"Linux",
    b"host": b"gateway.internal",
    b"content-length": b"12",
    b"accept": b"application/json",
    b"openai-beta": b"assistants=v2",
}


def test_forwarded_headers_is_an_allowlist() -> None:
    forwarded = forwarded_headers(CLIENT_HEADERS)
    assert sorted(forwarded) == [
        (b"accept", b"application/json"),
        (b"openai-beta", b"assistants=v2"),
    ]


@pytest.mark.parametrize(
    "name",
    [
        b"authorization",
        b"cookie",
        b"openai-organization",
        b"openai-project",
        b"x-forwarded-for",
        b"api-key",
        b"x-unknown-future-header",
    ],
)
def test_sensitive_headers_never_forwarded(name: bytes) -> None:
    assert name not in {n for n, _ in forwarded_headers({name: b"v", b"accept": b"*/*"})}


def test_no_headers() -> None:
    assert forwarded_headers({}) == []


def test_a_form_keeps_its_own_content_type_and_nothing_else_does() -> None:
    form_type = b"multipart/form-data; boundary=----x"
    headers = {**CLIENT_HEADERS, b"content-type": form_type}
    assert (b"content-type", form_type) in forwarded_headers(headers, multipart=True)
    assert b"content-type" not in {n for n, _ in forwarded_headers(headers)}
    assert b"cookie" not in {n for n, _ in forwarded_headers(headers, multipart=True)}
