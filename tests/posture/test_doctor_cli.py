"""``vaultgate doctor`` as a user runs it: a clean installation passes, one with every bad practice fails with
each finding, the HTML report is self-contained and escaped, usage errors exit 2."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.cli.test_cli import vg
from tests.posture.conftest import Installation, days_ago
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.services import admin_tokens, keys, members, org, providers, routes, teams
from vaultgate.services.context import LOCAL_OPERATOR, new_id
from vaultgate.store.models import AdminToken, MemberKey, Provider, ProviderCredential, Team

Doctor = Callable[..., tuple[int, str, str]]


@pytest.fixture
def closed_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def well_kept(inst: Installation, upstream_url: str) -> None:
    """What the guide asks for: a team with a max key age, narrowed expiring keys, a reachable provider."""
    cp = inst.cp
    providers.add(
        cp,
        LOCAL_OPERATOR,
        "local",
        kind="compatible",
        base_url=upstream_url,
        api_key="sk-test",
        allow_insecure_http=True,
    )
    teams.create(cp, LOCAL_OPERATOR, "research")
    teams.set_policy(cp, LOCAL_OPERATOR, "research", policy={"models": ["gpt-4o-mini"]}, max_key_age_days=60)
    members.add(cp, LOCAL_OPERATOR, "alice", team="research")
    keys.create(cp, LOCAL_OPERATOR, "alice", policy={"models": ["gpt-4o-mini"]}, expires_in="30d")
    keys.create(cp, LOCAL_OPERATOR, "alice", policy={"ip_allow": ["10.1.0.0/16"]}, expires_in="30d")


def test_a_clean_installation_has_nothing_above_info_and_exits_0(
    installation: Installation, capture_upstream: tuple[CaptureUpstream, ThreadedServer], doctor: Doctor
) -> None:
    well_kept(installation, capture_upstream[1].url + "/v1")
    code, out, _ = doctor(installation.settings, "--format", "json", "--fail-on", "low")
    assert code == 0, out
    document = json.loads(out)
    assert [(f["id"], f["severity"]) for f in document["findings"]] == [
        ("admin_token.holder_without_keys", "info"),  # the owner init made: administration only
        ("provider.loopback_http", "info"),
    ]
    assert {k: document["summary"][k] for k in ("high", "medium", "low", "info")} == {
        "high": 0,
        "medium": 0,
        "low": 0,
        "info": 2,
    }
    assert document["summary"]["failed"] is False
    # The keys doctor --json always had stay at the top level.
    assert document["audit_chain_ok"] is True and document["residency_findings"] == []
    assert document["tls"] == "off (listening on 127.0.0.1 only)"
    assert document["database"] in ("sqlite", "postgresql") and document["audit_records"] > 0
    assert document["checks"]["providers_reachable"] == {"local": True}
    text_code, text_out, _ = doctor(installation.settings)
    assert text_code == 0 and text_out.startswith("vaultgate posture report: 0 high, 0 medium, 0 low, 2 info")


def seed_every_bad_practice(inst: Installation, closed_port: int) -> dict[str, str]:
    """One of each: returns the ids the findings must name."""
    cp = inst.cp
    teams.create(cp, LOCAL_OPERATOR, "research")
    teams.set_policy(cp, LOCAL_OPERATOR, "research", policy={"residency": ["eu"]}, max_key_age_days=30)
    members.add(cp, LOCAL_OPERATOR, "erika", team="research")
    members.add(cp, LOCAL_OPERATOR, "leaver", role="admin")
    old_key = keys.create(cp, LOCAL_OPERATOR, "erika", policy={"models": ["m"]}, expires_in="300d").info
    inst.set(MemberKey, old_key.id, created_at=days_ago(45))
    wide_forever = keys.create(cp, LOCAL_OPERATOR, "erika", policy={}).info.id
    shared = keys.create(cp, LOCAL_OPERATOR, "erika", policy={"models": ["m"]}, expires_in="30d").info.id
    with cp.store.session() as session:
        erika = session.get(MemberKey, shared).member_id
    noon = days_ago(1).replace(hour=12)
    for i in range(6):
        inst.usage(shared, erika, noon, f"net{i}", "agent")
    gone = keys.create(cp, LOCAL_OPERATOR, "leaver", policy={"models": ["m"]}, expires_in="30d").info.id
    keys.revoke(cp, LOCAL_OPERATOR, gone)
    leaver_token = admin_tokens.create(cp, LOCAL_OPERATOR, "leaver")[0].id
    forever_token = admin_tokens.create(cp, LOCAL_OPERATOR, "erika")[0].id
    inst.set(AdminToken, forever_token, expires_at=None)
    old_token = admin_tokens.create(cp, LOCAL_OPERATOR, "erika", expires_in="366d")[0].id
    inst.set(AdminToken, old_token, created_at=days_ago(120))
    for name in ("stale", "plain", "down"):
        providers.add(
            cp,
            LOCAL_OPERATOR,
            name,
            kind="compatible",
            base_url=f"http://127.0.0.1:{closed_port}/v1",
            api_key="sk-test",
            allow_insecure_http=True,
            geography="us",
        )
    with cp.store.session() as session:
        session.execute(text("UPDATE providers SET base_url = 'http://192.0.2.1/v1' WHERE name = 'plain'"))
        stale_cred = session.execute(
            text(
                "SELECT c.id FROM provider_credentials c JOIN providers p ON p.id = c.provider_id WHERE p.name = 'stale'"
            )
        ).scalar_one()
    inst.set(ProviderCredential, stale_cred, created_at=days_ago(200))
    routes.add(cp, LOCAL_OPERATOR, "gpt-4o", [routes.TargetSpec("stale")])
    teams.create(cp, LOCAL_OPERATOR, "paused")
    teams.suspend(cp, LOCAL_OPERATOR, "paused")
    org.set_lockdown(cp, LOCAL_OPERATOR, True)
    with cp.store.session() as session:
        session.execute(text("UPDATE audit_events SET outcome = 'denied' WHERE seq = 2"))
    return {
        "old_key": old_key.id,
        "wide_forever": wide_forever,
        "shared": shared,
        "erika": erika,
        "leaver_token": leaver_token,
        "forever_token": forever_token,
        "old_token": old_token,
        "stale_cred": stale_cred,
    }


def test_every_bad_practice_is_found_with_its_severity_and_evidence(
    installation: Installation, doctor: Doctor, closed_port: int
) -> None:
    ids = seed_every_bad_practice(installation, closed_port)
    env = {
        "VAULTGATE_HOST": "0.0.0.0",
        "VAULTGATE_REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
        "VAULTGATE_POSTURE_PROBE_TIMEOUT": "1",
    }
    code, out, _ = doctor(installation.settings, "--json", env=env)
    assert code == 1
    document = json.loads(out)
    found = {(f["id"], f["subject"]): f for f in document["findings"]}
    expected = {
        ("key.max_age", ids["old_key"]): "high",
        ("key.unrestricted", ids["wide_forever"]): "medium",
        ("key.no_expiry", ids["wide_forever"]): "low",
        ("key.shared", ids["shared"]): "high",
        ("admin_token.no_expiry", ids["forever_token"]): "high",
        ("admin_token.old", ids["old_token"]): "medium",
        ("admin_token.holder_without_keys", ids["leaver_token"]): "medium",
        ("provider.credential_age", "stale"): "medium",
        ("provider.plain_http", "plain"): "high",
        ("provider.unreachable", "down"): "medium",
        ("tls.off", "0.0.0.0"): "medium",
        ("lockdown.on", "organisation"): "medium",
        ("team.suspended", "paused"): "info",
        ("audit.chain_broken", "audit record 2"): "high",
        ("residency.route", "research / gpt-4o"): "high",
        ("redis.unreachable", "redis"): "high",
    }
    assert {key: found[key]["severity"] for key in expected if key in found} == expected
    assert found[("key.shared", ids["shared"])]["evidence"]["networks"] == 6
    assert found[("key.shared", ids["shared"])]["evidence"]["member_id"] == ids["erika"]
    assert found[("key.max_age", ids["old_key"])]["evidence"]["age_days"] == 45
    assert found[("provider.credential_age", "stale")]["evidence"]["credential_id"] == ids["stale_cred"]
    assert found[("audit.chain_broken", "audit record 2")]["evidence"]["first_broken_seq"] == 2
    assert all(f["fix"] for f in document["findings"])
    severities = [f["severity"] for f in document["findings"]]
    assert severities == sorted(severities, key=["high", "medium", "low", "info"].index)
    assert document["summary"]["failed"] is True and document["audit_chain_ok"] is False
    assert doctor(installation.settings, "--json", "--fail-on", "never", env=env)[0] == 0

    # A master key file others may read: the vault refuses it, doctor still reports what it can.
    os.chmod(installation.settings.resolved_master_key_file, 0o644)
    code, out, _ = doctor(installation.settings, "--format", "json")
    assert code == 1
    unopened = {f["id"]: f["severity"] for f in json.loads(out)["findings"]}
    assert unopened == {"master_key.file_mode": "high", "installation.unavailable": "high"}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_report_is_self_contained_and_escapes_hostile_names(
    sqlite_installation: Installation, doctor: Doctor, tmp_path: Path
) -> None:
    team = "<script>alert('team')</script>"
    provider = '"><img src=x onerror=alert(1)>\x1b[31m'
    with sqlite_installation.cp.store.session() as session:
        session.add(
            Team(id=new_id("team"), name=team, suspended=True, created_at=datetime.now(UTC), policy={}, limits={})
        )
        session.add(
            Provider(
                id=new_id("prov"),
                name=provider,
                kind="compatible",
                base_url="http://192.0.2.1/v1",
                allow_insecure_http=True,
                created_at=datetime.now(UTC),
                deployments={},
                settings={},
            )
        )
    out = tmp_path / "posture.html"
    env = {"VAULTGATE_POSTURE_PROBE_TIMEOUT": "1"}
    code, stdout, stderr = doctor(sqlite_installation.settings, "--format", "html", "--out", str(out), env=env)
    assert code == 1 and stdout == "" and f"Wrote the posture report to {out}" in stderr
    page = out.read_text()
    assert "<script" not in page and "<img" not in page
    parsed = Tags()
    parsed.feed(page)
    names = {tag for tag, _ in parsed.tags}
    assert names <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "p",
        "span",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "code",
        "pre",
    }
    for _, attrs in parsed.tags:
        assert not {"src", "href", "action", "style"} & set(attrs) and not any(a.startswith("on") for a in attrs)
    assert "http" not in "".join(page.split("<style>")[1].split("</style>")[0])  # no external stylesheet or font
    rows = {(attrs["data-id"], attrs["data-severity"]) for tag, attrs in parsed.tags if attrs.get("class") == "finding"}
    assert {("team.suspended", "info"), ("provider.plain_http", "high"), ("provider.unreachable", "medium")} <= rows
    body = "".join(parsed.text)
    assert team in body and provider in body  # shown as text, exactly as stored
    assert "vaultgate team resume '<script>alert('\"'\"'team'\"'\"')</script>'" in body  # the fix, shell-quoted
    # The terminal report shows control characters escaped.
    code, report, _ = doctor(sqlite_installation.settings, "--fail-on", "never", env=env)
    assert code == 0 and "\x1b" not in report and "\\x1b[31m" in report
    assert report.index("HIGH (") < report.index("MEDIUM (") < report.index("INFO (")


def test_usage_errors_exit_2(sqlite_installation: Installation, doctor: Doctor) -> None:
    for args in (("--format", "xml"), ("--fail-on", "sometimes"), ("--json", "--format", "html")):
        code, out, err = doctor(sqlite_installation.settings, *args)
        assert (code, out) == (2, ""), args
        assert err.startswith("vaultgate: error: ") and len(err.strip().splitlines()) == 1
    assert json.loads(doctor(sqlite_installation.settings, "--json", "--format", "json")[1])["summary"]["high"] == 0


def test_doctor_runs_as_a_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert vg(data, "init").returncode == 0
    result = vg(data, "doctor", "--format", "json", "--fail-on", "low")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["total"] == document["summary"]["info"] == 1
    assert vg(data, "doctor", "--format", "json", "--fail-on", "low", env={"VAULTGATE_HOST": "0.0.0.0"}).returncode == 1
