"""Bad input gets its documented OpenAI-shaped error, nothing is stored, and the next request works."""

from __future__ import annotations

import httpx
import openai
import pytest
from sqlalchemy import select
from tests.conftest import Stack
from tests.support.servers import free_port

from vaultgate.keys import tokens
from vaultgate.services import keys, providers
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import MemberKey

CHAT = [{"role": "user", "content": "hi"}]


def raw(
    stack: Stack, key: str | None, body: bytes, content_type: str = "application/json", path: str = "/chat/completions"
) -> httpx.Response:
    headers = {"content-type": content_type}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    return httpx.post(stack.base_url + path, content=body, headers=headers)


def assert_error(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert resp.headers["x-request-id"].startswith("req_")


def works(stack: Stack, key: str) -> None:
    c = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    assert c.chat.completions.create(model="gpt-4o", messages=CHAT).choices[0].message.content


def test_malformed_json_wrong_type_and_too_large(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    before = len(stack.upstream.requests)
    assert_error(raw(stack, key, b'{"model": "gpt-4o", "messages": ['), 400, "invalid_json")
    assert_error(raw(stack, key, b"[1, 2]"), 400, "invalid_request")
    assert_error(
        raw(stack, key, b"model=gpt-4o", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )
    big = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "' + b"a" * (21 * 1024 * 1024) + b'"}]}'
    assert_error(raw(stack, key, big), 413, "request_too_large")
    assert len(stack.upstream.requests) == before, "nothing may reach the upstream"
    works(stack, key)


def test_an_oversized_model_name_does_not_break_usage_accounting(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    long_model = "gpt-" + "x" * 400
    stack.upstream.next_error = (
        404,
        b'{"error": {"message": "no such model", "type": "invalid_request_error", "param": null, "code": "model_not_found"}}',
    )
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0).chat.completions.create(
            model=long_model, messages=CHAT
        )
    works(stack, key)
    rows = stack.usage(2)
    # Not a model id: stored as "other" (client-chosen strings are kept only in a non-identifying form).
    assert len(rows) == 2 and rows[0].model == "other" and rows[1].status == 200


def test_invalid_utf8_and_too_deep_json(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    bad_utf8 = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "caf\xe9 \xff"}]}'
    resp = raw(stack, key, bad_utf8)
    assert_error(resp, 400, "invalid_json")
    assert "UTF-8" in resp.json()["error"]["message"]
    deep = b'{"model": "gpt-4o", "messages": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    resp = raw(stack, key, deep)
    assert_error(resp, 400, "invalid_json")
    assert "nested too deeply" in resp.json()["error"]["message"]
    works(stack, key)


def test_missing_malformed_bad_checksum_unknown_revoked_and_expired_keys(stack: Stack) -> None:
    stack.member("alice")
    good = stack.key("alice")
    body = b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}'
    assert_error(raw(stack, None, body), 401, "invalid_api_key")
    resp = httpx.post(
        stack.base_url + "/chat/completions",
        content=body,
        headers={"authorization": "Basic Zm9vOmJhcg==", "content-type": "application/json"},
    )
    assert_error(resp, 401, "invalid_api_key")

    bad_checksum = good[:-1] + ("A" if good[-1] != "A" else "B")
    unknown = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    admin_as_member = tokens.mint(tokens.TokenKind.ADMIN_TOKEN)
    revoked = stack.key("alice")
    revoked_id = keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[-1].id
    keys.revoke(stack.cp, LOCAL_OPERATOR, revoked_id)
    expired = keys.create(stack.cp, LOCAL_OPERATOR, "alice", expires_in="1m").token
    # The gateway runs on the real clock: expire the key by moving its expiry to its creation time.
    with stack.cp.store.session() as session:
        row = session.scalars(select(MemberKey).order_by(MemberKey.created_at.desc())).first()
        assert row is not None
        row.expires_at = row.created_at
        stack.cp.store.notify_change(session)
    stack.sync()

    messages = set()
    for key in ("not-a-key", "vgk_short", bad_checksum, unknown, admin_as_member, revoked, expired):
        resp = raw(stack, key, body)
        assert_error(resp, 401, "invalid_api_key")
        messages.add(resp.json()["error"]["message"])
    assert len(messages) == 1, "one message for every bad key: no oracle"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.base_url, api_key=revoked, max_retries=0).models.list()
    works(stack, good)


def test_scope_model_and_ip_refusals(stack: Stack) -> None:
    stack.member("alice")
    limited = stack.key("alice", models=["gpt-4o-mini"], scopes={"embeddings": "none", "models": "read"})
    c = openai.OpenAI(base_url=stack.base_url, api_key=limited, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as err:
        c.chat.completions.create(model="gpt-4o", messages=CHAT)
    assert err.value.code == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError) as err:
        c.embeddings.create(model="gpt-4o-mini", input="x")
    assert err.value.code == "permission_denied"
    assert c.chat.completions.create(model="gpt-4o-mini", messages=CHAT).choices
    remote_only = stack.key("alice", ip_allow=["203.0.113.0/24", "2001:db8::/32"])
    with pytest.raises(openai.PermissionDeniedError) as err:
        openai.OpenAI(base_url=stack.base_url, api_key=remote_only, max_retries=0).models.list()
    assert err.value.code == "ip_not_allowed"
    loopback = stack.key("alice", ip_allow=["127.0.0.0/8"])
    works(stack, loopback)


def test_unknown_paths_and_methods(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    resp = httpx.get(stack.base_url + "/nope", headers={"authorization": f"Bearer {key}"})
    assert_error(resp, 404, "unknown_url")
    resp = httpx.put(stack.base_url + "/chat/completions", headers={"authorization": f"Bearer {key}"})
    assert_error(resp, 405, "method_not_allowed")
    resp = httpx.get(stack.base_url + "/embeddings", headers={"authorization": f"Bearer {key}"})
    assert_error(resp, 405, "method_not_allowed")


def test_upstream_error_is_relayed_with_its_status(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    stack.upstream.next_error = (
        404,
        b'{"error": {"message": "The model `gpt-9` does not exist", "type": "invalid_request_error", "param": null, "code": "model_not_found"}}',
    )
    with pytest.raises(openai.NotFoundError) as err:
        openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0).chat.completions.create(
            model="gpt-9", messages=CHAT
        )
    assert err.value.code == "model_not_found"
    works(stack, key)


def test_upstream_down_is_a_502_and_recorded(stack: Stack) -> None:
    stack.member("alice")
    providers.add(
        stack.cp,
        LOCAL_OPERATOR,
        "down",
        kind="compatible",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        api_key="x",
        allow_insecure_http=True,
        make_default=True,
    )
    key = stack.key("alice")
    with pytest.raises(openai.APIStatusError) as err:
        openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0).chat.completions.create(
            model="gpt-4o", messages=CHAT
        )
    assert err.value.status_code == 502
    assert err.value.code == "upstream_unavailable"
    rows = stack.usage(1)
    assert [(r.status, r.error_code, r.provider) for r in rows] == [(502, "upstream_unavailable", "down")]


def test_echo_provider_unknown_model(stack: Stack) -> None:
    stack.member("alice")
    providers.add(stack.cp, LOCAL_OPERATOR, "offline", kind="echo", make_default=True)
    key = stack.key("alice")
    c = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as err:
        c.chat.completions.create(model="no-such-model", messages=CHAT)
    assert err.value.code == "model_not_found"
    assert c.chat.completions.create(model="gpt-4o-mini", messages=CHAT).choices[0].message.content == "echo: hi"
