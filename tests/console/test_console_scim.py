"""The members page says who SCIM manages: a "Managed by" column (SCIM / local) on every row, and, once SCIM
manages anyone, a "Not managed by SCIM" section listing the others (removed members left out), escaped."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.console.browser import LAPTOP, browser, serious_violations, sign_in
from tests.identity.scim_state import scim_user
from vaultgate.services import members
from vaultgate.services.context import LOCAL_OPERATOR

__all__ = ["browser"]


def _managed_by(page: Any, name: str) -> str:
    headers = [h.strip() for h in page.locator("table").first.locator("thead th").all_inner_texts()]
    row = page.locator("table").first.locator("tbody tr", has_text=name).first
    return str(row.locator("td").nth(headers.index("Managed by")).inner_text()).strip()


def test_members_page_shows_who_scim_manages(stack: Stack, browser: Any) -> None:
    stack.member("scimmy")
    stack.member("localone")
    stack.member("leftover")
    members.update(stack.cp, LOCAL_OPERATOR, "localone", display_name="<b>Local</b> One")
    base = stack.gateway.url
    context = browser.new_context(viewport=LAPTOP, bypass_csp=True)
    page = context.new_page()
    sign_in(page, base, stack.admin_token)

    # No SCIM yet: every member is local and there is no section.
    page.goto(base + "/console/org")
    assert _managed_by(page, "scimmy") == "local"
    assert page.get_by_role("heading", name="Not managed by SCIM").count() == 0

    scim_user(stack.cp, "scimmy")
    members.remove(stack.cp, LOCAL_OPERATOR, "leftover")
    page.goto(base + "/console/org")
    assert _managed_by(page, "scimmy") == "SCIM"
    assert _managed_by(page, "localone") == "local"
    assert "<b>Local</b> One" in page.locator("table").first.inner_text()  # shown as text, never markup
    section = page.locator("section", has=page.get_by_role("heading", name="Not managed by SCIM"))
    names = section.locator("tbody tr td:first-child").all_inner_texts()
    assert sorted(names) == ["admin", "localone"]  # not the SCIM-managed one, not the removed one
    assert "owner" in section.locator("tbody tr", has_text="admin").inner_text()
    assert serious_violations(page) == []
    context.close()
