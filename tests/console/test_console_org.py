"""The organisation actions in a real browser: an owner moves a member to another team and changes their role,
renames and deletes teams (a team with members is refused, and the page says why), removes a member after a
confirmation step (their key is then refused to the openai SDK), sees a key's last use and who switched
lockdown when; a plain member is offered none of it, and their crafted POSTs change nothing."""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest

from tests.conftest import Stack
from tests.console.browser import LAPTOP, browser, serious_violations, sign_in
from vaultgate.services import members, org, teams
from vaultgate.services.context import LOCAL_OPERATOR

__all__ = ["browser"]


def _chat(stack: Stack, key: str) -> None:
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def _main(page: Any) -> str:
    return str(page.locator("main").inner_text())


def _state(stack: Stack) -> dict[str, tuple[str | None, str, str]]:
    return {m.name: (m.team, m.role, m.status) for m in members.list_members(stack.cp, LOCAL_OPERATOR)}


def test_an_owner_changes_members_and_teams_and_a_member_cannot(stack: Stack, browser: Any) -> None:
    stack.member("alice", team="research", create_team=True)
    teams.create(stack.cp, LOCAL_OPERATOR, "ops")
    stack.member("bob")
    stack.member("carol")
    alice_key, bob_key, carol_key = stack.key("alice"), stack.key("bob"), stack.key("carol")
    _chat(stack, alice_key)
    stack.usage(1)
    ids = {m.name: m.id for m in members.list_members(stack.cp, LOCAL_OPERATOR)}
    base = stack.gateway.url

    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)  # bypass for axe's script only
    page = context.new_page()
    sign_in(page, base, stack.admin_token)

    # Last used: alice's key after her SDK call; the others never.
    row = page.locator("tbody tr", has_text="alice")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row.locator("td").nth(6).inner_text())
    assert page.locator("tbody tr", has_text="bob").locator("td").nth(6).inner_text() == "never"
    assert serious_violations(page) == []
    page.locator("tbody tr", has_text="alice").get_by_role("link", name="Details").click()
    assert re.search(r"Last used\n\d{4}-\d\d-\d\d \d\d:\d\d UTC", page.locator("dl.facts").inner_text())

    # Update alice: team and role (selects), display name.
    page.goto(base + "/console/org")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Change alice").click()
    page.get_by_label("Team").select_option("ops")
    page.get_by_label("Role").select_option("auditor")
    page.get_by_label("Display name").fill("Alice A.")
    page.get_by_role("button", name="Save changes").click()
    assert "Member alice updated: display_name, role, team." in _main(page)
    assert serious_violations(page) == []
    assert _state(stack)["alice"] == ("ops", "auditor", "active")
    page.goto(base + "/console/org")
    assert "Alice A." in page.locator("tbody tr", has_text="alice").inner_text()

    # Teams: rename research (now empty), refuse deleting ops (alice is in it), delete the renamed one.
    page.get_by_label("New name for research").fill("science")
    page.locator("form[action='/console/org/teams/research/rename']").get_by_role("button", name="Rename").click()
    assert "Team research is now science." in _main(page)
    page.get_by_role("button", name="Delete ops…").click()
    assert "Delete team ops?" in _main(page)
    assert serious_violations(page) == []
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Yes, delete team ops").click()
    assert answer.value.status == 409
    assert "still has 1 member" in page.locator(".notice.error").inner_text()
    page.get_by_role("button", name="Delete science…").click()
    page.get_by_role("button", name="Yes, delete team science").click()
    assert "Team science deleted." in _main(page)
    assert sorted(t.name for t in teams.list_teams(stack.cp, LOCAL_OPERATOR)) == ["ops"]

    # Remove bob: the first press only asks; the confirmation revokes his key.
    page.get_by_role("button", name="Remove bob…").click()
    assert "Remove bob?" in _main(page)
    _chat(stack, bob_key)  # not yet
    page.get_by_role("button", name="Yes, remove bob").click()
    assert "Member bob removed: 1 key(s)" in _main(page)
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        _chat(stack, bob_key)

    # Lockdown: who switched it and when; asking again for the same state is a notice, not an error.
    page.goto(base + "/console/lockdown")
    assert "Never switched" in _main(page)
    page.get_by_role("button", name="Turn lockdown on…").click()
    page.get_by_role("button", name="Yes, turn lockdown on").click()
    status = org.lockdown_status(stack.cp, LOCAL_OPERATOR)
    assert status.set_by is not None and status.set_at is not None
    by = page.locator(".lockdown-by").inner_text()
    assert f"Turned on by {status.set_by}" in by and status.set_at.strftime("%Y-%m-%d %H:%M UTC") in by
    assert serious_violations(page) == []
    csrf = page.locator("input[name=csrf]").first.input_value()
    again = page.request.post(
        base + "/console/lockdown", form={"csrf": csrf, "state": "on", "confirm": "yes"}, headers={"origin": base}
    )
    assert again.status == 200 and "Lockdown was already on: nothing changed." in again.text()
    assert org.lockdown_status(stack.cp, LOCAL_OPERATOR).set_at == status.set_at
    org.set_lockdown(stack.cp, LOCAL_OPERATOR, False)
    context.close()

    # A plain member (member view): no controls on others, no team controls; crafted POSTs change nothing.
    before = _state(stack)
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    sign_in(page, base, carol_key)
    page.goto(base + "/console/org")
    assert "alice" not in _main(page)
    assert page.locator("form[action*='/remove'], form[action*='/org/teams/']").count() == 0
    csrf = page.locator("input[name=csrf]").first.input_value()
    crafted = {
        f"/console/org/members/{ids['alice']}": {"role": "member"},
        f"/console/org/members/{ids['alice']}/remove": {"confirm": "yes"},
        f"/console/org/members/{ids['carol']}": {"role": "owner"},
        f"/console/org/members/{ids['carol']}/remove": {"confirm": "yes"},
        "/console/org/teams/ops/rename": {"new_name": "taken"},
        "/console/org/teams/ops/delete": {"confirm": "yes"},
        "/console/lockdown": {"state": "on", "confirm": "yes"},
    }
    for path, form in crafted.items():
        answer = page.request.post(base + path, form={"csrf": csrf, **form}, headers={"origin": base})
        assert answer.status in (403, 404), path
    assert _state(stack) == before
    assert [t.name for t in teams.list_teams(stack.cp, LOCAL_OPERATOR)] == ["ops"]
    assert not org.lockdown_status(stack.cp, LOCAL_OPERATOR).on
    context.close()
