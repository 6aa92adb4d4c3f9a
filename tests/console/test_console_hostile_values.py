"""Values people type are shown as text, never run: a display name and a key name carrying markup are
escaped on every page that shows them, and no script of theirs runs in the browser."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack
from tests.console.browser import LAPTOP, browser, sign_in
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR

__all__ = ["browser"]

DISPLAY = '<img src=x onerror="window.__owned=1">Zoë'
KEY_NAME = "<script>window.__owned=2</script>laptop"


def test_markup_in_names_is_text_on_every_page(stack: Stack, browser: Any) -> None:
    stack.member("alice")
    members.update(stack.cp, LOCAL_OPERATOR, "alice", display_name=DISPLAY)
    keys.create(stack.cp, LOCAL_OPERATOR, "alice", name=KEY_NAME)
    stack.sync()
    base = stack.gateway.url
    context = browser.new_context(viewport=LAPTOP)  # the CSP stays on; escaping must hold without it too
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, stack.admin_token)
    for path in ("/console/org", "/console/keys", "/console/audit"):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        html = response.text()
        assert "<img src=x" not in html and "<script>window" not in html, path
        assert page.evaluate("window.__owned") is None, path
    page.goto(base + "/console/org")
    assert DISPLAY in page.locator("main").inner_text()  # shown as the text it is
    page.goto(base + "/console/keys")
    assert KEY_NAME in page.locator("main").inner_text()
    assert errors == []
    context.close()
