"""The console in a real browser: sign in with a member key, create a key, use it through the openai SDK,
see the usage chart count it, rotate and revoke it; another member's key and usage stay out of reach;
CSRF, cookie flags, CSP and same-origin-only requests checked on the way."""

from __future__ import annotations

import re
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Stack
from tests.console.browser import CSP, LAPTOP, browser, sign_in
from vaultgate.services import keys
from vaultgate.services.context import LOCAL_OPERATOR

__all__ = ["browser"]


def _chat(stack: Stack, key: str) -> str:
    client = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    return reply.choices[0].message.content or ""


def _accept_dialogs(page: Any) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_member_creates_uses_rotates_and_revokes_a_key_in_the_browser(stack: Stack, browser: Any) -> None:
    stack.member("alice")
    stack.member("bob")
    bob_key = keys.create(stack.cp, LOCAL_OPERATOR, "bob", name="bob-secret-laptop")
    _chat(stack, stack.key("bob"))  # bob has usage of his own, which alice must never see
    stack.usage(1)
    alice_signin = stack.key("alice")
    base = stack.gateway.url

    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    _accept_dialogs(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    sign_in(page, base, alice_signin)
    session = next(c for c in context.cookies() if c["name"] == "vg_console")
    assert session["httpOnly"] is True and session["sameSite"] == "Strict" and session["path"] == "/console"
    assert session["secure"] is False  # plain HTTP on loopback; Secure under TLS (test_console_http.py)

    # Create a key in the page: the secret is shown once.
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Models", exact=True).fill("gpt-4o-mini")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("vgk_")
    key_id = re.search(r"key_[0-9a-f]{16}", page.locator("label[for=new-secret]").inner_text()).group(0)
    page.reload()  # a POST answer; the list page itself never holds a secret
    page.goto(base + "/console/keys")
    assert secret not in page.content()

    stack.sync()
    assert _chat(stack, secret) == "upstream says: hi"
    stack.usage(2)

    response = page.goto(base + "/console/usage")
    assert response.status == 200 and response.headers["content-security-policy"] == CSP
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    bars = page.locator("#chart-member g.bar")
    assert bars.count() == 1  # alice's own usage only: bob's bar is not there
    assert bars.first.get_attribute("data-label") == "alice"
    assert bars.first.get_attribute("data-requests") == "1"
    assert page.locator('#chart-model g.bar[data-label="gpt-4o-mini"]').get_attribute("data-requests") == "1"
    assert "bob" not in page.content()

    # Rotate on the key's page: a new secret, shown once; then revoke: the SDK is refused.
    page.goto(f"{base}/console/keys/{key_id}")
    page.get_by_role("button", name="Rotate").click()
    rotated = page.locator("#new-secret").input_value()
    assert rotated.startswith("vgk_") and rotated != secret
    stack.sync()
    assert _chat(stack, rotated) == "upstream says: hi"
    page.get_by_role("button", name="Revoke").click()
    assert "is revoked" in page.locator("main").inner_text()
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        _chat(stack, rotated)
    with pytest.raises(openai.AuthenticationError):
        _chat(stack, secret)  # the grace period of the old secret ends with the revocation

    # Another member's key: the same 404 as a key that does not exist, and nothing of it in the page.
    response = page.goto(f"{base}/console/keys/{bob_key.info.id}")
    assert response.status == 404
    assert "bob" not in page.content() and bob_key.info.display not in page.content()
    response = page.goto(base + "/console/keys")
    assert bob_key.info.display not in page.content()

    # A POST without the CSRF token is refused, even with the session cookie and the right origin.
    before = len(keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice"))
    forged = page.request.post(base + "/console/keys", form={"name": "forged"}, headers={"origin": base})
    assert forged.status == 403
    cross = page.request.post(
        base + f"/console/keys/{bob_key.info.id}/revoke", form={"csrf": "x"}, headers={"origin": "http://evil.example"}
    )
    assert cross.status == 403
    assert len(keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice")) == before

    # Revoking the credential that signed in ends the session at once.
    signin_id = next(k.id for k in keys.list_keys(stack.cp, LOCAL_OPERATOR, "alice") if k.name is None)
    keys.revoke(stack.cp, LOCAL_OPERATOR, signin_id)
    page.goto(base + "/console/usage")
    assert page.url == base + "/console/signin"

    assert requested and all(url.startswith(base + "/") for url in requested), requested
    context.close()


def test_a_session_cookie_is_useless_without_its_credential(stack: Stack) -> None:
    stack.member("carol")
    token = stack.key("carol")
    with httpx.Client(base_url=stack.gateway.url) as client:
        form = client.get("/console/signin")
        nonce_token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        signed = client.post(
            "/console/signin", data={"credential": token, "csrf": nonce_token}, headers={"origin": stack.gateway.url}
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/console/keys"
        cookie = client.cookies["vg_console"]
        forged = cookie[:-1] + ("0" if cookie[-1] != "0" else "1")
        assert httpx.get(stack.gateway.url + "/console/keys", cookies={"vg_console": forged}).status_code == 303
        assert client.get("/console/keys").status_code == 200
        bad = client.post(
            "/console/signin",
            data={"credential": "vgk_nope", "csrf": nonce_token},
            headers={"origin": stack.gateway.url},
        )
        assert bad.status_code in (401, 403)
