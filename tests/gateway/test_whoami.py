"""GET /v1/vaultgate/whoami: the presented credential's identity, refused exactly like any use of it."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select
from tests.conftest import Stack

from vaultgate.keys import tokens
from vaultgate.services import keys, members, org, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import MemberKey


def whoami(stack: Stack, credential: str) -> httpx.Response:
    return httpx.get(stack.base_url + "/vaultgate/whoami", headers={"authorization": f"Bearer {credential}"})


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def test_a_key_learns_its_member_team_display_and_effective_policy(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "research")
    teams.set_policy(stack.cp, LOCAL_OPERATOR, "research", policy={"models": ["gpt-4o*"]})
    stack.member("alice", team="research")
    key = stack.key("alice", models=["gpt-4o-mini"], scopes={"embeddings": "none", "files": "read"}, expires_in="30d")
    resp = whoami(stack, key)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-request-id"]
    body = resp.json()
    parsed = tokens.parse(key)
    assert parsed is not None
    assert body["object"] == "vaultgate.identity"
    assert (body["member"], body["team"], body["credential"]) == ("alice", "research", "key")
    assert body["key"] == parsed.display and key not in resp.text and parsed.random not in resp.text
    assert body["key_id"] == keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[0].id
    assert body["models"] == ["gpt-4o-mini"] and body["model_ceilings"] == [["gpt-4o*"]]
    assert body["scopes"]["embeddings"] == "none" and body["scopes"]["files"] == "read"
    assert body["scopes"]["chat"] == "write"
    assert isinstance(body["expires_at"], int) and body["ip_allow"] == []
    # Nothing went upstream.
    assert stack.upstream.requests == []


def test_a_short_lived_token_shows_its_key_narrowed_policy_and_own_expiry(stack: Stack) -> None:
    stack.member("bob")
    key = stack.key("bob")
    bought = httpx.post(
        stack.base_url + "/vaultgate/tokens",
        json={"expires_in": 120, "models": ["gpt-4o-mini"], "scopes": {"chat": "read"}},
        headers={"authorization": f"Bearer {key}"},
    ).json()
    body = whoami(stack, bought["token"]).json()
    parsed = tokens.parse(key)
    assert parsed is not None
    assert (body["member"], body["team"], body["credential"]) == ("bob", None, "token")
    assert body["key"] == parsed.display
    assert body["models"] == ["gpt-4o-mini"] and body["scopes"]["chat"] == "read"
    assert body["expires_at"] == bought["expires_at"]


def test_refused_exactly_like_any_use_of_the_key(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "ops")
    stack.member("alice", team="ops")
    good = stack.key("alice")
    revoked = stack.key("alice")
    keys.revoke(stack.cp, LOCAL_OPERATOR, keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[-1].id)
    expired = keys.create(stack.cp, LOCAL_OPERATOR, "alice", expires_in="1m").token
    with stack.cp.store.session() as session:  # expired in the snapshot: expiry moved to creation
        row = session.scalars(select(MemberKey).order_by(MemberKey.created_at.desc())).first()
        assert row is not None
        row.expires_at = row.created_at
        stack.cp.store.notify_change(session)
    stack.sync()
    unknown = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    messages = set()
    for credential in ("not-a-key", unknown, revoked, expired, tokens.mint(tokens.TokenKind.ADMIN_TOKEN)):
        resp = whoami(stack, credential)
        assert resp.status_code == 401
        error = error_of(resp)
        assert error["code"] == "invalid_api_key"
        messages.add(error["message"])
    assert len(messages) == 1, "one message for every bad credential"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.base_url, api_key=revoked, max_retries=0).get("/vaultgate/whoami", cast_to=object)

    members.suspend(stack.cp, LOCAL_OPERATOR, "alice")
    stack.sync()
    resp = whoami(stack, good)
    assert resp.status_code == 403 and "suspended" in error_of(resp)["message"]
    members.resume(stack.cp, LOCAL_OPERATOR, "alice")
    teams.suspend(stack.cp, LOCAL_OPERATOR, "ops")
    stack.sync()
    resp = whoami(stack, good)
    assert resp.status_code == 403 and "team" in error_of(resp)["message"]
    teams.resume(stack.cp, LOCAL_OPERATOR, "ops")
    org.set_lockdown(stack.cp, LOCAL_OPERATOR, True)
    stack.sync()
    resp = whoami(stack, good)
    assert resp.status_code == 403 and "lockdown" in error_of(resp)["message"]
    org.set_lockdown(stack.cp, LOCAL_OPERATOR, False)
    stack.sync()
    assert whoami(stack, good).status_code == 200

    elsewhere = stack.key("alice", ip_allow=["203.0.113.0/24"])
    resp = whoami(stack, elsewhere)
    assert resp.status_code == 403 and error_of(resp)["code"] == "ip_not_allowed"
    assert httpx.get(stack.base_url + "/vaultgate/whoami").status_code == 401


def test_only_get_and_no_scope_needed(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice", scopes={"chat": "none", "models": "none"})
    assert whoami(stack, key).status_code == 200
    resp = httpx.post(stack.base_url + "/vaultgate/whoami", headers={"authorization": f"Bearer {key}"})
    assert resp.status_code == 405 and error_of(resp)["code"] == "method_not_allowed"
