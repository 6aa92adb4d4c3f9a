"""Least privilege through the official SDK: team ceilings, rotation, kill switches, short-lived tokens, canaries."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select
from tests.conftest import Stack

from vaultgate.keys import tokens
from vaultgate.services import credentials, keys, members, org, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent, MemberKey

CHAT = [{"role": "user", "content": "hi"}]


def sdk(stack: Stack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)


def chat(stack: Stack, key: str, model: str = "gpt-4o") -> str | None:
    return sdk(stack, key).chat.completions.create(model=model, messages=CHAT).choices[0].message.content


def audit_actions(stack: Stack) -> list[tuple[str, str | None, str]]:
    with stack.cp.store.session() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return [(r.action, r.target, r.outcome) for r in rows]


def test_team_ceiling_caps_every_key(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "research")
    teams.set_policy(
        stack.cp, LOCAL_OPERATOR, "research", policy={"models": ["gpt-4o-mini"], "scopes": {"embeddings": "none"}}
    )
    stack.member("alice", team="research")
    wide = stack.key("alice")  # the key itself allows everything
    assert chat(stack, wide, "gpt-4o-mini")
    with pytest.raises(openai.PermissionDeniedError) as err:
        chat(stack, wide, "gpt-4o")
    assert err.value.code == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError):
        sdk(stack, wide).embeddings.create(model="gpt-4o-mini", input="x")


def test_rotation_keeps_the_old_secret_for_the_grace_period_only(stack: Stack) -> None:
    stack.member("alice")
    old = stack.key("alice")
    key_id = keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[0].id
    rotated = keys.rotate(stack.cp, LOCAL_OPERATOR, key_id, grace="24h")
    stack.sync()
    assert rotated.info.id == key_id and rotated.token != old
    assert chat(stack, old) and chat(stack, rotated.token)
    # The grace period ends: move it into the past instead of sleeping.
    with stack.cp.store.session() as session:
        row = session.get(MemberKey, key_id)
        assert row is not None
        row.previous_expires_at = stack.cp.clock() - timedelta(seconds=1)
        stack.cp.store.notify_change(session)
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        chat(stack, old)
    assert chat(stack, rotated.token)
    again = keys.rotate(stack.cp, LOCAL_OPERATOR, key_id, grace="0s")
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        chat(stack, rotated.token)
    assert chat(stack, again.token)


def test_rotating_a_revoked_key_is_refused_and_audited(stack: Stack) -> None:
    stack.member("alice")
    stack.key("alice")
    key_id = keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[0].id
    keys.revoke(stack.cp, LOCAL_OPERATOR, key_id)
    from vaultgate.services.errors import Conflict

    with pytest.raises(Conflict):
        keys.rotate(stack.cp, LOCAL_OPERATOR, key_id)
    assert ("key.rotate", key_id, "refused") in audit_actions(stack)


def test_kill_switches_member_team_and_lockdown(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "ops")
    stack.member("alice", team="ops")
    stack.member("bob")
    alice, bob = stack.key("alice"), stack.key("bob")

    members.suspend(stack.cp, LOCAL_OPERATOR, "alice")
    stack.sync()
    with pytest.raises(openai.PermissionDeniedError) as err:
        chat(stack, alice)
    assert "suspended" in err.value.message
    assert chat(stack, bob)
    members.resume(stack.cp, LOCAL_OPERATOR, "alice")

    teams.suspend(stack.cp, LOCAL_OPERATOR, "ops")
    stack.sync()
    with pytest.raises(openai.PermissionDeniedError) as err:
        chat(stack, alice)
    assert "team" in err.value.message
    teams.resume(stack.cp, LOCAL_OPERATOR, "ops")

    org.set_lockdown(stack.cp, LOCAL_OPERATOR, True)
    stack.sync()
    for key in (alice, bob):
        with pytest.raises(openai.PermissionDeniedError) as err:
            chat(stack, key)
        assert "lockdown" in err.value.message
    org.set_lockdown(stack.cp, LOCAL_OPERATOR, False)
    stack.sync()
    assert chat(stack, alice) and chat(stack, bob)
    actions = [a for a, _, _ in audit_actions(stack)]
    for action in ("member.suspend", "member.resume", "team.suspend", "team.resume", "org.lockdown"):
        assert action in actions


def exchange(stack: Stack, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(stack.base_url + "/vaultgate/tokens", json=body, headers={"authorization": f"Bearer {key}"})


def test_short_lived_tokens_narrow_and_die_with_their_key(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice", models=["gpt-4o*"])
    resp = exchange(stack, key, {"expires_in": 600, "models": ["gpt-4o-mini"], "scopes": {"embeddings": "none"}})
    assert resp.status_code == 200, resp.text
    short = resp.json()["token"]
    assert short.startswith("vgt_") and tokens.parse(short) is not None
    assert resp.json()["expires_at"] <= time.time() + 600 + 5
    assert chat(stack, short, "gpt-4o-mini")
    with pytest.raises(openai.PermissionDeniedError):
        chat(stack, short, "gpt-4o")  # the key allows it; the token does not
    with pytest.raises(openai.PermissionDeniedError):
        sdk(stack, short).embeddings.create(model="gpt-4o-mini", input="x")
    widened = exchange(stack, key, {"models": ["o3"]})
    assert widened.status_code == 400  # a token cannot widen its key: refused, not silently narrowed
    assert widened.json()["error"]["code"] == "policy_exceeds_ceiling"
    assert exchange(stack, short, {}).status_code == 400, "no token from a token"
    assert exchange(stack, key, {"expires_in": 7200}).status_code == 400
    assert exchange(stack, key, {"scopes": {"chat": "sometimes"}}).status_code == 400

    keys.revoke(stack.cp, LOCAL_OPERATOR, keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[0].id)
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        chat(stack, short, "gpt-4o-mini")


def test_canary_use_is_refused_like_an_unknown_key_and_alerts(stack: Stack) -> None:
    sink = stack.webhooks
    stack.member("decoy")
    canary = keys.create(stack.cp, LOCAL_OPERATOR, "decoy", canary=True).token
    stack.sync()
    unknown = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    answers = []
    for key in (canary, unknown):
        resp = httpx.post(
            stack.base_url + "/chat/completions",
            json={"model": "gpt-4o", "messages": CHAT},
            headers={"authorization": f"Bearer {key}", "user-agent": "stolen-laptop/1.0"},
        )
        answers.append((resp.status_code, resp.json()["error"]))
    assert answers[0] == answers[1] and answers[0][0] == 401
    event = sink.wait_for("canary.used")
    assert event["user_agent"] == "stolen-laptop/1.0" and event["source_ip"] == "127.0.0.1"
    deadline = time.monotonic() + 5
    while ("canary.used",) not in [(a,) for a, _, _ in audit_actions(stack)]:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_provider_credential_rotation_fails_no_request(stack: Stack) -> None:
    stack.member("alice")
    key = stack.key("alice")
    old = credentials.list_credentials(stack.cp, LOCAL_OPERATOR, "capture")[0]
    failures: list[BaseException] = []
    done = threading.Event()

    def traffic() -> None:
        c = sdk(stack, key)
        while not done.is_set():
            try:
                c.chat.completions.create(model="gpt-4o", messages=CHAT)
            except BaseException as exc:
                failures.append(exc)

    workers = [threading.Thread(target=traffic) for _ in range(3)]
    for w in workers:
        w.start()
    time.sleep(0.3)
    credentials.add(stack.cp, LOCAL_OPERATOR, "capture", "sk-upstream-new-key")
    stack.sync()
    credentials.drain(stack.cp, LOCAL_OPERATOR, "capture", old.id)
    stack.sync()
    marker = len(stack.upstream.requests)
    time.sleep(0.3)
    credentials.remove(stack.cp, LOCAL_OPERATOR, "capture", old.id)
    stack.sync()
    time.sleep(0.3)
    done.set()
    for w in workers:
        w.join()
    assert failures == []
    after = stack.upstream.requests[marker:]
    assert after and all(r.headers["authorization"] == "Bearer sk-upstream-new-key" for r in after)


def test_key_due_for_rotation_is_flagged_warned_and_optionally_expired(stack: Stack) -> None:
    from vaultgate.services import rotation_sweep

    sink = stack.webhooks
    teams.create(stack.cp, LOCAL_OPERATOR, "ml")
    teams.set_policy(stack.cp, LOCAL_OPERATOR, "ml", max_key_age_days=30)
    stack.member("alice", team="ml", email="alice@example.com")
    key = stack.key("alice")
    with stack.cp.store.session() as session:
        row = session.scalars(select(MemberKey)).one()
        row.created_at = stack.cp.clock() - timedelta(days=31)
    listed = keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[0]
    assert listed.rotation_due and listed.age_days == 31
    due = rotation_sweep.sweep(stack.cp)
    assert [k.id for k in due] == [listed.id]
    assert sink.wait_for("key.rotation_due")["email"] == "alice@example.com"
    rotation_sweep.sweep(stack.cp)
    assert [a for a, _, _ in audit_actions(stack)].count("key.rotation_due") == 1, "warned once"
    assert chat(stack, key), "warn-only teams keep overdue keys working"
    teams.set_policy(stack.cp, LOCAL_OPERATOR, "ml", expire_overdue_keys=True)
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        chat(stack, key)


def test_not_before_delays_a_key(stack: Stack) -> None:
    stack.member("alice")
    later = keys.create(stack.cp, LOCAL_OPERATOR, "alice", not_before="1h").token
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        chat(stack, later)
    assert keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")[0].status == "pending"
