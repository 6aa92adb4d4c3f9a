"""Console single sign-on through a real OpenID provider on loopback (``oidc-provider-mock``), in headless
Chromium: start, the issuer's form, back, signed in; a mapped group creates the member just in time, and
a mapping changed later moves them on their next sign-in."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from oidc_provider_mock import run_server_in_thread
from sqlalchemy import select

from tests.console.browser import browser
from tests.identity.conftest import CLIENT_SECRET, SsoStack, sso_stack
from vaultgate.services import identity, members, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import IdentityUser, Member

__all__ = ["browser"]


@pytest.fixture
def issuer() -> Iterator[str]:
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def real(tmp_path: Path, issuer: str) -> Iterator[SsoStack]:
    yield from sso_stack(tmp_path, f"sqlite:///{tmp_path / 'vaultgate.db'}", issuer)


def set_user(issuer: str, sub: str, claims: dict[str, Any]) -> None:
    assert httpx.put(f"{issuer}/users/{sub}", json=claims).status_code == 204


def sign_in_with_sso(page: Any, base: str, sub: str) -> None:
    """As a person would: the console's sign-in page, the issuer's form, back to the console."""
    page.goto(base + "/console/signin")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(base + "/console/keys")


def test_a_member_signs_in_to_the_console_through_the_issuer(
    real: SsoStack, issuer: str, browser: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    members.add(real.cp, LOCAL_OPERATOR, "alice", email="alice@example.com")
    set_user(issuer, "alice-sub", {"email": "alice@example.com", "email_verified": True, "name": "Alice"})
    context = browser.new_context()
    page = context.new_page()
    sign_in_with_sso(page, real.url, "alice-sub")
    assert "alice" in page.content() and "My keys" in page.title()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(real.url + "/console/signin")
    context.close()
    # What vaultgate and its server logged (the issuer and the test's HTTP client log their own traffic).
    theirs = ("httpx", "httpcore", "werkzeug", "oidc_provider_mock", "authlib")
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(theirs))
    assert any("signed in" in r.getMessage() for r in caplog.records if r.name.startswith("vaultgate"))
    assert CLIENT_SECRET not in logged
    assert "code=" not in logged and "code_verifier" not in logged and "id_token" not in logged


def test_a_mapped_group_creates_the_member_and_a_changed_mapping_moves_them(
    real: SsoStack, issuer: str, browser: Any
) -> None:
    teams.create(real.cp, LOCAL_OPERATOR, "platform")
    identity.set_mapping(real.cp, LOCAL_OPERATOR, "eng", "platform", "admin")
    set_user(
        issuer,
        "bob-sub",
        {"email": "bob@example.com", "email_verified": True, "preferred_username": "bob", "groups": ["eng"]},
    )
    context = browser.new_context()
    page = context.new_page()
    sign_in_with_sso(page, real.url, "bob-sub")
    assert "Signed in as bob (admin)" in page.locator("header").inner_text()
    platform = teams.list_teams(real.cp, LOCAL_OPERATOR)[0]
    with real.cp.store.session() as session:
        bob = session.scalars(select(Member).where(Member.name == "bob")).one()
        assert (bob.role, bob.email, bob.display_name) == ("admin", "bob@example.com", None)
        assert bob.team_id == platform.id
        assert session.scalars(select(IdentityUser)).one().oidc_subject == "bob-sub"
    context.close()

    identity.set_mapping(real.cp, LOCAL_OPERATOR, "eng", None, "auditor")
    context = browser.new_context()
    page = context.new_page()
    sign_in_with_sso(page, real.url, "bob-sub")
    with real.cp.store.session() as session:
        assert session.scalars(select(Member).where(Member.name == "bob")).one().role == "auditor"
        assert len(session.scalars(select(Member).where(Member.email == "bob@example.com")).all()) == 1
    context.close()


def test_a_plain_member_gets_the_member_view_and_an_owner_acts_as_owner(
    real: SsoStack, issuer: str, browser: Any
) -> None:
    members.add(real.cp, LOCAL_OPERATOR, "carol", email="carol@example.com")
    members.add(real.cp, LOCAL_OPERATOR, "olga", email="olga@example.com", role="owner")
    set_user(issuer, "carol-sub", {"email": "carol@example.com", "email_verified": True})
    set_user(issuer, "olga-sub", {"email": "olga@example.com", "email_verified": True})
    for sub, shown, posture in (("carol-sub", "carol (member)", 403), ("olga-sub", "olga (owner)", 200)):
        context = browser.new_context()
        page = context.new_page()
        sign_in_with_sso(page, real.url, sub)
        assert f"Signed in as {shown}" in page.locator("header").inner_text()
        answer = page.goto(real.url + "/console/posture")  # the posture report is for owners, admins, auditors
        assert answer is not None and answer.status == posture
        context.close()
