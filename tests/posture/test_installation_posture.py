"""The installation in the posture report: admin tokens, provider credentials and upstreams, the master key,
TLS, kill switches, the audit chain, residency, Redis and providers reachable, and a check that breaks."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.conftest import make_settings
from tests.posture.conftest import Installation, days_ago, of
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.services import admin_tokens, keys, members, org, providers, routes, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.posture.finding import Fact, Finding, Severity
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.services.posture.runner import CHECKS, inspect, run
from vaultgate.store.models import AdminToken, ProviderCredential

SECRET = "sk-posture-test-" + "x" * 24


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), never listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def loopback_provider(inst: Installation, name: str, url: str, api_key: str | None = SECRET) -> None:
    providers.add(
        inst.cp, LOCAL_OPERATOR, name, kind="compatible", base_url=url, api_key=api_key, allow_insecure_http=True
    )


def test_admin_tokens_that_never_expire_are_old_or_held_without_keys(installation: Installation) -> None:
    cp = installation.cp
    for name in ("leaver", "worker"):
        members.add(cp, LOCAL_OPERATOR, name, role="admin")
    revoked = keys.create(cp, LOCAL_OPERATOR, "leaver", policy={"models": ["m"]}, expires_in="30d").info.id
    keys.revoke(cp, LOCAL_OPERATOR, revoked)
    keys.create(cp, LOCAL_OPERATOR, "worker", policy={"models": ["m"]}, expires_in="30d")
    leaver_token = admin_tokens.create(cp, LOCAL_OPERATOR, "leaver")[0].id
    forever = admin_tokens.create(cp, LOCAL_OPERATOR, "worker")[0].id
    old = admin_tokens.create(cp, LOCAL_OPERATOR, "worker", expires_in="366d")[0].id
    fresh = admin_tokens.create(cp, LOCAL_OPERATOR, "worker")[0].id
    installation.set(AdminToken, forever, expires_at=None)
    installation.set(AdminToken, old, created_at=days_ago(100))
    gone = admin_tokens.create(cp, LOCAL_OPERATOR, "leaver")[0].id
    admin_tokens.revoke(cp, LOCAL_OPERATOR, gone)

    report = installation.report()
    assert [(f.subject, f.severity) for f in of(report, "admin_token.no_expiry")] == [(forever, Severity.HIGH)]
    assert of(report, "admin_token.no_expiry")[0].fix.startswith(f"vaultgate admin-token revoke {forever} && ")
    aged = of(report, "admin_token.old")
    assert [(f.subject, f.severity, f.evidence["age_days"]) for f in aged] == [(old, Severity.MEDIUM, 100)]
    holders = {f.subject: f for f in of(report, "admin_token.holder_without_keys")}
    owner_token = next(t.id for t in admin_tokens.list_tokens(cp, LOCAL_OPERATOR) if t.member == "admin")
    assert set(holders) == {leaver_token, owner_token}
    assert holders[leaver_token].severity is Severity.MEDIUM
    assert holders[leaver_token].evidence["keys_ever"] == 1 and holders[leaver_token].evidence["live_keys"] == 0
    assert holders[leaver_token].fix == f"vaultgate admin-token revoke {leaver_token}"
    assert holders[owner_token].severity is Severity.INFO  # init's owner: an administration-only account
    assert fresh not in {f.subject for f in report.findings} and gone not in {f.subject for f in report.findings}


def test_provider_credentials_past_the_rotation_policy(
    installation: Installation, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> None:
    loopback_provider(installation, "local", capture_upstream[1].url + "/v1")
    with installation.cp.store.session() as session:
        cred_id = session.scalars(ProviderCredential.__table__.select().with_only_columns(ProviderCredential.id)).one()
    installation.set(ProviderCredential, cred_id, created_at=days_ago(91))
    found = of(installation.report(), "provider.credential_age")
    assert [(f.subject, f.severity) for f in found] == [("local", Severity.MEDIUM)]
    assert found[0].evidence | {"created_at": None} == {
        "provider": "local",
        "credential_id": cred_id,
        "state": "active",
        "age_days": 91,
        "max_age_days": 90,
        "created_at": None,
    }
    assert found[0].fix == (
        f"vaultgate provider key add local --api-key-stdin && vaultgate provider key drain local {cred_id}"
    )
    assert of(installation.report(posture_provider_key_max_age_days=100), "provider.credential_age") == []


def test_plain_http_upstreams_beyond_loopback_are_high_on_loopback_info(
    installation: Installation, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> None:
    loopback_provider(installation, "local", capture_upstream[1].url + "/v1")
    loopback_provider(installation, "remote", capture_upstream[1].url + "/v1")
    # Only an older version (or a hand-edited database) could have stored this: providers.add refuses it.
    with installation.cp.store.session() as session:
        session.execute(text("UPDATE providers SET base_url = 'http://192.0.2.10/v1' WHERE name = 'remote'"))
    report = installation.report(posture_probe_timeout=1)
    assert [(f.subject, f.severity) for f in of(report, "provider.plain_http")] == [("remote", Severity.HIGH)]
    assert of(report, "provider.plain_http")[0].evidence["base_url"] == "http://192.0.2.10/v1"
    assert [(f.subject, f.severity) for f in of(report, "provider.loopback_http")] == [("local", Severity.INFO)]


def test_providers_are_probed_without_a_credential_and_unreachable_ones_are_medium(
    installation: Installation, capture_upstream: tuple[CaptureUpstream, ThreadedServer], closed_port: int
) -> None:
    upstream, server = capture_upstream
    loopback_provider(installation, "up", server.url + "/v1")
    loopback_provider(installation, "down", f"http://127.0.0.1:{closed_port}/v1")
    providers.add(installation.cp, LOCAL_OPERATOR, "offline", kind="echo")
    report = installation.report()
    down = of(report, "provider.unreachable")
    assert [(f.subject, f.severity) for f in down] == [("down", Severity.MEDIUM)]
    assert down[0].evidence["problem"] == "The upstream could not be reached."
    assert report.facts["providers_reachable"] == {"up": True, "down": False}
    assert [(r.method, r.path) for r in upstream.requests] == [("GET", "/v1")]
    seen = upstream.requests[0].everything()
    assert SECRET.encode() not in seen and b"authorization" not in seen.lower() and b"api-key" not in seen.lower()


def test_master_key_readable_by_others_and_master_key_in_the_environment(
    sqlite_installation: Installation, tmp_path: Path
) -> None:
    key_file = sqlite_installation.settings.resolved_master_key_file
    assert of(sqlite_installation.report(), "master_key.file_mode") == []
    os.chmod(key_file, 0o640)
    found = of(sqlite_installation.report(), "master_key.file_mode")
    assert [(f.severity, f.evidence) for f in found] == [(Severity.HIGH, {"path": str(key_file), "mode": "640"})]
    assert found[0].fix == f"chmod 600 {key_file}"
    in_env = sqlite_installation.report(master_key="not-read-by-this-check")
    assert [f.severity for f in of(in_env, "master_key.environment")] == [Severity.INFO]
    assert in_env.facts["master_key_source"] == "environment"
    assert of(in_env, "master_key.file_mode") == []


def test_no_tls_beyond_loopback(sqlite_installation: Installation) -> None:
    assert of(sqlite_installation.report(), "tls.off") == []
    exposed = sqlite_installation.report(host="0.0.0.0")
    assert [(f.severity, f.evidence["host"]) for f in of(exposed, "tls.off")] == [(Severity.MEDIUM, "0.0.0.0")]
    assert exposed.facts["tls"].startswith("WARNING: off while listening on 0.0.0.0")
    assert (
        of(sqlite_installation.report(host="0.0.0.0", tls_cert=Path("c.pem"), tls_key=Path("k.pem")), "tls.off") == []
    )


def test_lockdown_and_suspended_teams(installation: Installation) -> None:
    assert of(installation.report(), "lockdown.on") == [] and of(installation.report(), "team.suspended") == []
    org.set_lockdown(installation.cp, LOCAL_OPERATOR, True)
    teams.create(installation.cp, LOCAL_OPERATOR, "paused")
    teams.suspend(installation.cp, LOCAL_OPERATOR, "paused")
    report = installation.report()
    assert [(f.severity, f.fix) for f in of(report, "lockdown.on")] == [(Severity.MEDIUM, "vaultgate lockdown off")]
    assert [(f.subject, f.severity, f.fix) for f in of(report, "team.suspended")] == [
        ("paused", Severity.INFO, "vaultgate team resume paused")
    ]


def test_a_broken_audit_chain_is_high(installation: Installation) -> None:
    members.add(installation.cp, LOCAL_OPERATOR, "alice")
    assert installation.report().facts["audit_chain_ok"] is True
    with installation.cp.store.session() as session:
        session.execute(text("UPDATE audit_events SET actor = 'intruder' WHERE seq = 1"))
    report = installation.report()
    found = of(report, "audit.chain_broken")
    assert [(f.severity, f.evidence["first_broken_seq"]) for f in found] == [(Severity.HIGH, 1)]
    assert found[0].fix == "vaultgate audit verify"
    assert report.facts["audit_chain_ok"] is False


def test_residency_findings_are_high_when_requests_are_refused(installation: Installation) -> None:
    cp = installation.cp
    providers.add(cp, LOCAL_OPERATOR, "us", kind="echo", geography="us")
    providers.add(cp, LOCAL_OPERATOR, "eu", kind="echo", geography="eu")
    teams.create(cp, LOCAL_OPERATOR, "research")
    teams.set_policy(cp, LOCAL_OPERATOR, "research", policy={"residency": ["eu"]})
    routes.add(cp, LOCAL_OPERATOR, "gpt-4o", [routes.TargetSpec("us")])
    routes.add(cp, LOCAL_OPERATOR, "gpt-4.1", [routes.TargetSpec("eu"), routes.TargetSpec("us")])
    found = {f.evidence["route"]: f for f in of(installation.report(), "residency.route")}
    assert (found["gpt-4o"].severity, found["gpt-4o"].evidence["level"]) == (Severity.HIGH, "error")
    assert (found["gpt-4.1"].severity, found["gpt-4.1"].evidence["level"]) == (Severity.MEDIUM, "warning")
    assert found["gpt-4o"].subject == "research / gpt-4o" and found["gpt-4o"].fix == "vaultgate route show gpt-4o"


def test_redis_unreachable_when_limits_use_it(sqlite_installation: Installation, closed_port: int) -> None:
    assert "redis_reachable" not in sqlite_installation.report().facts  # in-process limits: nothing to reach
    running = sqlite_installation.report(redis_url="redis://127.0.0.1:6379/0")
    if running.facts.get("redis_reachable") is not True:
        from tests.conftest import require_service

        require_service("Redis", "127.0.0.1:6379 did not answer the posture probe")
    assert of(running, "redis.unreachable") == []
    down = sqlite_installation.report(redis_url=f"redis://127.0.0.1:{closed_port}/0")
    assert [f.severity for f in of(down, "redis.unreachable")] == [Severity.HIGH]
    assert down.facts["redis_reachable"] is False


def test_a_check_that_breaks_becomes_a_finding_and_the_others_still_run(sqlite_installation: Installation) -> None:
    def broken(_: Inspection) -> Iterator[Finding | Fact]:
        yield Fact("half", True)
        raise RuntimeError("the check has a bug")

    inspection = Inspection(
        sqlite_installation.settings, sqlite_installation.cp, LOCAL_OPERATOR, sqlite_installation.cp.clock()
    )
    report = run(inspection, checks=[Check("broken", broken), *CHECKS])
    failed = of(report, "check.failed")
    assert [(f.subject, f.severity, f.evidence) for f in failed] == [
        ("broken", Severity.HIGH, {"check": "broken", "error": "RuntimeError", "message": "the check has a bug"})
    ]
    assert report.facts["half"] is True and report.facts["audit_chain_ok"] is True


def test_an_installation_that_cannot_be_opened_is_reported_with_what_could_be_checked(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'none.db'}").evolve(host="0.0.0.0")
    report = inspect(settings, None, LOCAL_OPERATOR, unavailable="vaultgate is not initialised here")
    assert [f.id for f in report.findings] == ["installation.unavailable", "tls.off"]
    assert report.findings[0].severity is Severity.HIGH
    assert "key.shared" in report.findings[0].evidence["checks_skipped"]
