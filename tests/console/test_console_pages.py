"""Every console page as an admin: it renders, axe-core finds no serious or critical violation, a screenshot
is saved (build/screenshots/, or docs/screenshots/ with `make screenshots`); the lockdown switch asks for confirmation before it acts; an auditor
reads everything and the forms that change things are not offered."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conftest import Stack
from tests.console.browser import LAPTOP, SCREENSHOTS, browser, serious_violations, sign_in
from vaultgate.services import admin_tokens
from vaultgate.services.context import LOCAL_OPERATOR

__all__ = ["browser"]

PAGES = ("keys", "org", "providers", "usage", "audit", "posture", "lockdown")


def test_every_page_is_accessible_and_lockdown_asks_first(stack: Stack, browser: Any, database_url: str) -> None:
    stack.member("alice", team="research", create_team=True)
    member_key = stack.key("alice", models=["gpt-4o-mini"])
    client = openai.OpenAI(base_url=stack.base_url, api_key=member_key, max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    stack.usage(3)
    base = stack.gateway.url

    # axe needs its script injected: this context alone bypasses the CSP (the pages never do).
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, base, stack.admin_token)
    for name in PAGES:
        response = page.goto(f"{base}/console/{name}")
        assert response.status == 200, name
        assert page.locator("main h1").count() == 1 and page.locator("header").count() == 1
        assert page.locator("nav").count() == 1
        assert serious_violations(page) == [], name
        if database_url.startswith("sqlite"):
            page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)
    page.goto(base + "/console/usage")
    assert page.locator('#chart-team g.bar[data-label="research"]').get_attribute("data-requests") == "3"
    assert page.locator("#chart-day g.bar").count() == 1
    page.goto(base + "/console/audit?action=key.create")
    assert "Chain verified" in page.locator("main").inner_text()
    assert page.locator("tbody tr").count() == 1

    # Lockdown: the first press only asks; the confirmation turns it on; member keys are refused.
    page.goto(base + "/console/lockdown")
    page.get_by_role("button", name="Turn lockdown on…").click()
    assert "Turn lockdown on?" in page.locator("main").inner_text()
    assert serious_violations(page) == []
    stack.sync()
    client.models.list()  # not yet: asking changed nothing
    page.get_by_role("button", name="Yes, turn lockdown on").click()
    assert "Lockdown is ON" in page.locator("main").inner_text()
    stack.sync()
    with pytest.raises(openai.PermissionDeniedError):
        client.models.list()
    page.get_by_role("button", name="Turn lockdown off…").click()
    page.get_by_role("button", name="Yes, turn lockdown off").click()
    assert "Lockdown is off" in page.locator("main").inner_text()

    # An auditor reads the usage and the audit trail, and is offered no form that changes anything.
    stack.member("audrey", role="auditor")
    _, auditor = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "audrey")
    page.context.clear_cookies()
    sign_in(page, base, auditor)
    assert page.locator("form[action='/console/keys']").count() == 0
    assert page.get_by_role("button", name="Revoke").count() == 0
    stack.usage(5)  # the three chats, the model list before lockdown and the one refused during it
    page.goto(base + "/console/usage")
    assert page.locator('#chart-member g.bar[data-label="alice"]').get_attribute("data-requests") == "5"
    context.close()

    # The member view on a phone's width: the same pages, readable, and no serious violation.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = phone.new_page()
    sign_in(page, base, member_key)
    assert serious_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(SCREENSHOTS / "console-keys-phone.png"), full_page=True)
    phone.close()
