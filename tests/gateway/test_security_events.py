"""Security events in the audit trail: the canary alarm awaited, authentication failures and policy
refusals summarised per interval, through a real gateway on loopback and the official SDK."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg
import pytest
from sqlalchemy import select
from tests.conftest import Stack, make_settings
from tests.services.test_fail_closed_audit import allow_audit_writes, refuse_audit_writes
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream
from tests.support.webhook import WebhookSink

from vaultgate.cli.main import run
from vaultgate.gateway.security_events import OTHER, SecurityEvents, is_policy_refusal
from vaultgate.keys import tokens
from vaultgate.server import Gateway, build
from vaultgate.services import bootstrap, keys, members, providers
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent, MemberKey

CHAT = [{"role": "user", "content": "hi"}]


# --- the aggregator alone ---------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_failures_are_counted_per_credential_and_source_with_reasons() -> None:
    clock = Clock()
    events = SecurityEvents(clock=clock)
    events.auth_failure("key_0123456789abcdef", "198.51.100.7", "expired")
    clock.now += 5
    events.auth_failure("key_0123456789abcdef", "198.51.100.7", "expired")
    events.auth_failure("vgk_AbCd…wxyz", "198.51.100.7", "unknown")
    events.refusal("key_0123456789abcdef", "model_not_allowed")
    events.refusal("key_0123456789abcdef", "model_not_allowed")
    summaries = {(s.action, s.target): s.details for s in events.drain()}
    assert summaries[("auth.failures", "key_0123456789abcdef")] == {
        "source": "198.51.100.7",
        "count": 2,
        "first_at": "2027-01-15T08:00:00.000+00:00",
        "last_at": "2027-01-15T08:00:05.000+00:00",
        "reasons": {"expired": 2},
    }
    assert summaries[("auth.failures", "vgk_AbCd…wxyz")]["count"] == 1
    refusals = summaries[("gateway.refusals", "key_0123456789abcdef")]
    assert (refusals["code"], refusals["count"], refusals["reasons"]) == (
        "model_not_allowed",
        2,
        {"model_not_allowed": 2},
    )
    assert events.drain() == [] and events.pending == 0  # a drain starts a new interval


def test_memory_is_bounded_by_distinct_pairs_and_the_overflow_keeps_the_count() -> None:
    events = SecurityEvents(max_pairs=10_000)
    for n in range(12_345):
        events.auth_failure(f"vgk_{n:04d}…zzzz", f"10.0.{n // 256 % 256}.{n % 256}", "unknown")
    for n in range(10_003):
        events.refusal(f"key_{n:016x}", "rate_limit_exceeded")
    assert events.pending == 10_001 + 10_001
    summaries = events.drain()
    auth = [s for s in summaries if s.action == "auth.failures"]
    refusals = [s for s in summaries if s.action == "gateway.refusals"]
    assert len(auth) == len(refusals) == 10_001
    overflow = auth[-1]
    assert overflow.target == OTHER and overflow.details["source"] == OTHER
    assert overflow.details["count"] == 2_345 and overflow.details["reasons"] == {"unknown": 2_345}
    assert sum(s.details["count"] for s in auth) == 12_345
    assert refusals[-1].target == OTHER and refusals[-1].details["count"] == 3
    # The overflow counts without growing: a known pair keeps counting under its own name.
    events = SecurityEvents(max_pairs=2)
    for credential in ("a", "b", "c", "d", "a"):
        events.auth_failure(credential, "s", "unknown")
    assert {(s.target, s.details["count"]) for s in events.drain()} == {("a", 2), ("b", 1), (OTHER, 2)}


def test_policy_refusals_are_the_403s_429s_and_privacy_400s() -> None:
    for status, code in [(403, "model_not_allowed"), (403, "permission_denied"), (429, "insufficient_quota")]:
        assert is_policy_refusal(status, code)
    assert is_policy_refusal(400, "secret_detected") and is_policy_refusal(400, "pii_blocked")
    for status, code in [(400, "invalid_json"), (503, "limits_unavailable"), (404, "object_not_found")]:
        assert not is_policy_refusal(status, code)


# --- through a real gateway --------------------------------------------------------------------------


class SecurityStack:
    """The shared ``stack`` with the Gateway object at hand, security events flushed only when it stops."""

    def __init__(self, stack: Stack, gateway: Gateway) -> None:
        self.stack = stack
        self.app = gateway

    def stop(self) -> None:
        """A graceful stop: the lifespan flushes the security events counted so far."""
        self.stack.gateway.stop()
        assert not self.stack.gateway.thread.is_alive()


@pytest.fixture
def secured(
    tmp_path: Path, database_url: str, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> Iterator[SecurityStack]:
    upstream, upstream_server = capture_upstream
    webhooks = WebhookSink()
    # No periodic flush during the test (only the graceful stop's), and a snapshot that stays usable
    # while a test keeps the database from the gateway.
    settings = make_settings(tmp_path, database_url).evolve(
        webhook_url=webhooks.url, security_events_flush_seconds=3600, max_staleness=3600
    )
    result = bootstrap.init(settings)
    assert result.admin_token is not None
    cp = bootstrap.open_control_plane(settings)
    upstream_key = "sk-upstream-" + secrets.token_urlsafe(24)
    providers.add(
        cp,
        LOCAL_OPERATOR,
        "capture",
        kind="compatible",
        base_url=upstream_server.url + "/v1",
        api_key=upstream_key,
        allow_insecure_http=True,
    )
    app = build(settings)
    server = ThreadedServer(app).start()
    stack = Stack(settings, cp, result.admin_token, server, upstream, upstream_key, webhooks, upstream_server.url)
    yield SecurityStack(stack, app)
    server.stop()
    webhooks.close()
    cp.store.dispose()


def sdk(stack: Stack, key: str, source: str = "127.0.0.1") -> openai.OpenAI:
    """The official SDK, its connections made from ``source`` (any 127.0.0.0/8 address is loopback)."""
    transport = httpx.HTTPTransport(local_address=source)
    return openai.OpenAI(
        base_url=stack.base_url, api_key=key, max_retries=0, http_client=httpx.Client(transport=transport)
    )


def trail(stack: Stack) -> list[AuditEvent]:
    with stack.cp.store.session() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all())


def records(stack: Stack, action: str) -> dict[tuple[str | None, str | None], dict[str, Any]]:
    """The ``action`` records by (target, source or code), each with its actor and details."""
    found: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for row in trail(stack):
        if row.action == action:
            pair = (row.target, row.details.get("source", row.details.get("code")))
            assert pair not in found, f"two {action} records for {pair} in one interval"
            found[pair] = {"actor": row.actor, "outcome": row.outcome, **row.details}
    return found


def expire(stack: Stack, key_id: str) -> None:
    """The gateway runs on the real clock: expire a key by moving its expiry to its creation time."""
    with stack.cp.store.session() as session:
        row = session.get(MemberKey, key_id)
        assert row is not None
        row.expires_at = row.created_at
        stack.cp.store.notify_change(session)
    stack.sync()


def test_auth_failures_and_refusals_are_summarised_in_the_trail(secured: SecurityStack) -> None:
    stack = secured.stack
    stack.member("alice")
    unknown = tokens.mint(tokens.TokenKind.MEMBER_KEY)
    revoked = keys.create(stack.cp, LOCAL_OPERATOR, "alice")
    keys.revoke(stack.cp, LOCAL_OPERATOR, revoked.info.id)
    expired = keys.create(stack.cp, LOCAL_OPERATOR, "alice", expires_in="1h")
    expire(stack, expired.info.id)
    # Held by the replica but refused by its lifetime (not valid before an hour from now): named by its id.
    early = keys.create(stack.cp, LOCAL_OPERATOR, "alice", not_before="1h")
    narrow = keys.create(stack.cp, LOCAL_OPERATOR, "alice", policy={"models": ["gpt-4o-mini"]})
    slow = keys.create(stack.cp, LOCAL_OPERATOR, "alice", limits={"rpm": 1})
    stack.sync()
    malformed = "sk-proj-" + secrets.token_urlsafe(30)  # an OpenAI key sent here by mistake: a secret too

    refused = [
        (unknown, "127.0.0.1", 3),
        (unknown, "127.0.0.2", 2),
        (revoked.token, "127.0.0.1", 2),
        (expired.token, "127.0.0.2", 1),
        (early.token, "127.0.0.2", 2),
        (malformed, "127.0.0.2", 1),
        (stack.admin_token, "127.0.0.1", 1),
    ]
    for token, source, times in refused:
        client = sdk(stack, token, source)
        for _ in range(times):
            with pytest.raises(openai.AuthenticationError):
                client.chat.completions.create(model="gpt-4o", messages=CHAT)

    narrow_client = sdk(stack, narrow.token)
    for _ in range(2):
        with pytest.raises(openai.PermissionDeniedError):
            narrow_client.chat.completions.create(model="gpt-4o", messages=CHAT)
    with pytest.raises(openai.BadRequestError) as blocked:  # a credential in the prompt: blocked by default
        narrow_client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"my key is {tokens.mint(tokens.TokenKind.MEMBER_KEY)}"}],
        )
    assert blocked.value.code == "secret_detected"
    slow_client = sdk(stack, slow.token)
    slow_client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    with pytest.raises(openai.RateLimitError):
        slow_client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert not [row for row in trail(stack) if row.action in ("auth.failures", "gateway.refusals")]

    secured.stop()  # the graceful stop flushes what was counted

    failures = records(stack, "auth.failures")
    display = tokens.display
    assert {pair: (r["count"], r["reasons"]) for pair, r in failures.items()} == {
        (display(unknown), "127.0.0.1"): (3, {"unknown": 3}),
        (display(unknown), "127.0.0.2"): (2, {"unknown": 2}),
        (display(revoked.token), "127.0.0.1"): (2, {"unknown": 2}),
        # An expired key is no longer in the replica's snapshot: named by its display form, like a revoked one.
        (display(expired.token), "127.0.0.2"): (1, {"unknown": 1}),
        (early.info.id, "127.0.0.2"): (2, {"expired": 2}),
        ("malformed", "127.0.0.2"): (1, {"malformed": 1}),
        (display(stack.admin_token), "127.0.0.1"): (1, {"admin_token": 1}),
    }
    for record in failures.values():
        assert record["actor"] == "gateway" and record["outcome"] == "refused"
        assert datetime.fromisoformat(record["first_at"]) <= datetime.fromisoformat(record["last_at"])
    refusals = records(stack, "gateway.refusals")
    assert {pair: r["count"] for pair, r in refusals.items()} == {
        (narrow.info.id, "model_not_allowed"): 2,
        (narrow.info.id, "secret_detected"): 1,
        (slow.info.id, "rate_limit_exceeded"): 1,
    }

    everything = json.dumps([[r.target, r.details] for r in trail(stack)], ensure_ascii=False)
    for token in (
        unknown,
        revoked.token,
        expired.token,
        early.token,
        malformed,
        stack.admin_token,
        narrow.token,
        slow.token,
    ):
        for form in (token, token[4:36], stack.cp.hasher.token_hash(token), hashlib.sha256(token.encode()).hexdigest()):
            assert form not in everything
    assert "alice" not in everything  # the trail names keys by id, never their member's name

    exposition = secured.app.metrics.exposition().decode() if secured.app.metrics else ""
    assert 'vaultgate_security_events_total{kind="auth.failures"} 7.0' in exposition
    assert 'vaultgate_security_events_total{kind="gateway.refusals"} 3.0' in exposition
    assert "vaultgate_security_events_lost_total 0.0" in exposition


def test_canary_use_is_on_record_when_the_sdk_call_returns(secured: SecurityStack) -> None:
    stack = secured.stack
    stack.member("decoy")
    canary = keys.create(stack.cp, LOCAL_OPERATOR, "decoy", canary=True)
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        sdk(stack, canary.token, "127.0.0.2").chat.completions.create(model="gpt-4o", messages=CHAT)
    alarms = [row for row in trail(stack) if row.action == "canary.used"]  # no polling: it is there already
    assert [(row.target, row.outcome, row.actor, row.details["source_ip"]) for row in alarms] == [
        (canary.info.id, "alert", "gateway", "127.0.0.2")
    ]
    assert stack.webhooks.wait_for("canary.used")["key_id"] == canary.info.id
    metrics = httpx.get(stack.gateway.url + "/metrics").text
    assert 'vaultgate_security_events_total{kind="canary.used"} 1.0' in metrics
    secured.stop()
    assert not records(stack, "auth.failures"), "a canary's use is its own record, not a summarised failure"


def test_canary_is_refused_and_the_loss_reported_when_the_trail_refuses_the_record(
    secured: SecurityStack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = secured.stack
    stack.member("decoy")
    canary = keys.create(stack.cp, LOCAL_OPERATOR, "decoy", canary=True)
    stack.sync()
    refuse_audit_writes(stack.cp.store)
    with caplog.at_level(logging.ERROR, logger="vaultgate.hooks"), pytest.raises(openai.AuthenticationError):
        sdk(stack, canary.token).chat.completions.create(model="gpt-4o", messages=CHAT)
    lost = [r for r in caplog.records if r.levelno == logging.ERROR and "security events lost" in r.getMessage()]
    assert len(lost) == 1 and "canary.used" in lost[0].getMessage()
    assert canary.token not in caplog.text and canary.token[4:36] not in caplog.text
    assert "vaultgate_security_events_lost_total 1.0" in httpx.get(stack.gateway.url + "/metrics").text
    assert stack.webhooks.wait_for("canary.used")["key_id"] == canary.info.id  # the alarm still goes out
    allow_audit_writes(stack.cp.store)
    with pytest.raises(openai.AuthenticationError):
        sdk(stack, canary.token).chat.completions.create(model="gpt-4o", messages=CHAT)
    assert [row.target for row in trail(stack) if row.action == "canary.used"] == [canary.info.id]


@pytest.mark.postgres
def test_canary_is_still_refused_while_the_database_is_unavailable(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(tmp_path, postgres_url).evolve(max_staleness=3600)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    providers.add(cp, LOCAL_OPERATOR, "offline", kind="echo")
    members.add(cp, LOCAL_OPERATOR, "decoy")
    canary = keys.create(cp, LOCAL_OPERATOR, "decoy", canary=True)
    app = build(settings)
    server = ThreadedServer(app).start()
    name = postgres_url.rsplit("/", 1)[1]
    admin_url = postgres_url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:  # no new connection, none left open
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=canary.token, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="gpt-4o", messages=CHAT)
        assert "vaultgate_security_events_lost_total 1.0" in httpx.get(server.url + "/metrics").text
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        server.stop()
        cp.store.dispose()


def test_scan_revoke_goes_through_the_audited_leak_revocation(
    secured: SecurityStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = secured.stack
    stack.member("alice")
    leaked = keys.create(stack.cp, LOCAL_OPERATOR, "alice")
    kept = stack.key("alice")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "settings.env").write_text(f"OPENAI_API_KEY={leaked.token}\n")
    monkeypatch.setenv("VAULTGATE_ADMIN_TOKEN", stack.admin_token)
    with pytest.raises(SystemExit) as exited:
        run(["scan", str(tmp_path / "repo"), "--revoke", "--admin-url", stack.gateway.url, "--no-progress"])
    assert exited.value.code == 1, capsys.readouterr().err  # the leaked key is still in the file
    assert f"revoked {tokens.display(leaked.token)} ({leaked.info.id})" in capsys.readouterr().err

    [record] = [row for row in trail(stack) if row.action == "key.leaked"]
    alice = next(m for m in members.list_members(stack.cp, LOCAL_OPERATOR) if m.name == "alice")
    assert (record.target, record.outcome, record.details) == (
        leaked.info.id,
        "ok",
        {"member": alice.id, "source": "scan"},
    )
    assert record.actor not in ("gateway", "cli", "alice")  # the admin token's member, by id
    everything = json.dumps([[r.target, r.details] for r in trail(stack)])
    assert leaked.token not in everything and hashlib.sha256(leaked.token.encode()).hexdigest() not in everything
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        sdk(stack, leaked.token).models.list()
    assert sdk(stack, kept).models.list().data
