"""Break-glass: an owner's admin token keeps working while the identity provider is unreachable, and once single
sign-on or SCIM is in use each of its uses is audited (console sign-in: every time; admin API: once per token,
process and 10 minutes); ``doctor`` flags the uses and an installation without a local owner."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Stack, make_settings
from tests.console.browser import LAPTOP, browser, sign_in
from tests.identity.scim_state import scim_user
from tests.posture.conftest import of
from tests.support.cli import run_for
from tests.support.servers import ThreadedServer, free_port
from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import admin_tokens, bootstrap, members
from vaultgate.services.break_glass import BreakGlass
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.posture.runner import inspect
from vaultgate.store.models import AuditEvent

__all__ = ["browser"]


def _break_glass(cp: ControlPlane) -> list[AuditEvent]:
    with cp.store.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "identity.break_glass"))
        return sorted(rows, key=lambda r: r.seq)


def _owner_token_id(cp: ControlPlane) -> str:
    return next(t.id for t in admin_tokens.list_tokens(cp, LOCAL_OPERATOR) if t.member == "admin")


def _me(url: str, token: str) -> int:
    return httpx.get(url + "/admin/me", headers={"authorization": f"Bearer {token}"}).status_code


@pytest.fixture
def sso_gateway(tmp_path: Path, database_url: str) -> Iterator[tuple[ThreadedServer, ControlPlane, str, Settings]]:
    """A gateway whose OIDC issuer is a loopback port nobody listens on: the identity provider is down."""
    down = f"https://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, database_url).evolve(
        oidc_issuer=down, oidc_client_id="vaultgate", oidc_redirect_url="https://vaultgate.test/console/sso/callback"
    )
    token = bootstrap.init(settings).admin_token
    assert token is not None
    cp = bootstrap.open_control_plane(settings)
    server = ThreadedServer(build(settings)).start()
    yield server, cp, token, settings
    server.stop()
    cp.store.dispose()


def test_owner_token_works_while_the_issuer_is_down_and_each_use_is_break_glass(
    sso_gateway: tuple[ThreadedServer, ControlPlane, str, Settings], browser: Any
) -> None:
    server, cp, owner_token, settings = sso_gateway
    members.add(cp, LOCAL_OPERATOR, "ops-admin", role="admin")
    admin_token = admin_tokens.create(cp, LOCAL_OPERATOR, "ops-admin")[1]
    token_id = _owner_token_id(cp)

    for _ in range(3):  # a script's calls: recorded once per token and process within 10 minutes
        assert _me(server.url, owner_token) == 200
    assert _me(server.url, admin_token) == 200  # not an owner's: not break-glass
    context = browser.new_context(viewport=LAPTOP)
    for _ in range(2):  # console sign-ins: every one
        page = context.new_page()
        sign_in(page, server.url, owner_token)
        page.close()
    context.close()

    records = _break_glass(cp)
    assert [(r.target, r.details["surface"]) for r in records] == [
        (token_id, "api"),
        (token_id, "console"),
        (token_id, "console"),
    ]
    assert all(r.details == {"token_id": token_id, "surface": r.details["surface"]} for r in records)
    owner_id = next(m.id for m in members.list_members(cp, LOCAL_OPERATOR) if m.name == "admin")
    assert {r.actor for r in records} == {owner_id}
    trail = json.dumps([[r.target, r.actor, r.details] for r in records])
    assert owner_token not in trail and owner_token[4:36] not in trail

    report = inspect(settings, cp, LOCAL_OPERATOR)
    assert of(report, "check.failed") == []
    used = of(report, "identity.break_glass_used")
    assert [(f.severity.value, f.subject, f.evidence["count"], f.evidence["surfaces"]) for f in used] == [
        ("medium", token_id, 3, ["api", "console"])
    ]
    assert used[0].evidence["member_ids"] == [owner_id]
    assert of(report, "identity.no_local_owner") == []  # SSO alone: the check is about SCIM


def test_no_break_glass_without_identity_then_recorded_once_scim_is_in_use(stack: Stack) -> None:
    url = stack.gateway.url
    assert _me(url, stack.admin_token) == 200
    assert _break_glass(stack.cp) == []  # neither SSO nor SCIM: an owner's token is the normal way in
    stack.member("carol")
    scim_user(stack.cp, "carol")
    assert _me(url, stack.admin_token) == 200
    assert _me(url, stack.admin_token) == 200
    assert [(r.target, r.details["surface"]) for r in _break_glass(stack.cp)] == [(_owner_token_id(stack.cp), "api")]


def test_the_api_throttle_is_per_token_and_window(stack: Stack) -> None:
    now = [1000.0]
    watch = BreakGlass(stack.cp, sso_configured=True, clock=lambda: now[0])
    owner = next(m for m in members.list_members(stack.cp, LOCAL_OPERATOR) if m.name == "admin")
    assert watch.api_use("adm_a", owner.id, "owner") is True
    assert watch.api_use("adm_a", owner.id, "owner") is False
    assert watch.api_use("adm_b", owner.id, "owner") is True  # another token: its own window
    assert watch.api_use("adm_c", owner.id, "admin") is False  # not an owner's token
    now[0] += 599
    assert watch.api_use("adm_a", owner.id, "owner") is False
    now[0] += 2
    assert watch.api_use("adm_a", owner.id, "owner") is True
    assert [r.target for r in _break_glass(stack.cp)] == ["adm_a", "adm_b", "adm_a"]


def test_doctor_flags_break_glass_use_and_a_missing_local_owner(stack: Stack) -> None:
    settings = stack.settings
    stack.member("carol")
    scim_user(stack.cp, "carol")
    doctor = run_for(settings, "doctor", "--format", "json", "--fail-on", "never")
    ids = {f["id"] for f in json.loads(doctor.stdout)["findings"]}
    assert "identity.no_local_owner" not in ids  # the owner `init` made is local
    assert "identity.break_glass_used" not in ids

    assert _me(stack.gateway.url, stack.admin_token) == 200  # a break-glass use
    scim_user(stack.cp, "admin")  # SCIM claims the only owner: nobody local is left
    doctor = run_for(settings, "doctor", "--format", "json", "--fail-on", "high")
    assert doctor.returncode == 1
    found = {f["id"]: f for f in json.loads(doctor.stdout)["findings"]}
    assert found["identity.no_local_owner"]["severity"] == "high"
    used = found["identity.break_glass_used"]
    assert used["severity"] == "medium" and used["evidence"]["count"] == 1
    assert used["evidence"]["token_id"] == _owner_token_id(stack.cp)

    members.add(stack.cp, LOCAL_OPERATOR, "backup-owner", role="owner")
    report = inspect(settings, stack.cp, LOCAL_OPERATOR)
    assert of(report, "identity.no_local_owner") == []
    members.suspend(stack.cp, LOCAL_OPERATOR, "backup-owner")  # a suspended owner cannot break the glass
    assert len(of(inspect(settings, stack.cp, LOCAL_OPERATOR), "identity.no_local_owner")) == 1
