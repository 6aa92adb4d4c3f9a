"""Console single sign-on against a hostile issuer on loopback: every forged, stale, replayed or misdirected
sign-in is refused with its precise message, no session cookie is set, and nothing changes in the database."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from tests.identity.conftest import CLIENT_SECRET, SsoStack, sso_stack
from tests.support.hostile_issuer import CLIENT_ID, HostileIssuer, hmac_key, other_key, unsigned
from vaultgate.console.session import COOKIE
from vaultgate.identity.oidc import code_challenge
from vaultgate.services import members
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent, IdentityUser, Member


def begin(client: httpx.Client) -> dict[str, str]:
    """Start a sign-in as the browser would: the authorization request's parameters."""
    answer = client.get("/console/sso/start")
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert "samesite=lax" in answer.headers["set-cookie"].lower()
    assert "httponly" in answer.headers["set-cookie"].lower()
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def finish(client: httpx.Client, state: str, code: str = "the-code") -> httpx.Response:
    return client.get("/console/sso/callback", params={"code": code, "state": state})


def refused(answer: httpx.Response, status: int, message: str) -> None:
    assert answer.status_code == status, answer.text
    assert message.lower() in html.unescape(answer.text).lower()
    assert COOKIE not in answer.cookies
    assert f"{COOKIE}=" not in answer.headers.get("set-cookie", "")


@pytest.fixture
def alice(sso: SsoStack) -> str:
    members.add(sso.cp, LOCAL_OPERATOR, "alice", email="alice@example.com")
    return "alice"


def test_a_good_sign_in_links_the_member_by_verified_email_and_signs_in(
    sso: SsoStack, hostile: HostileIssuer, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        assert request["code_challenge_method"] == "S256" and request["client_id"] == CLIENT_ID
        token = hostile.id_token(hostile.claims(request["nonce"]))
        hostile.answers(token)
        answer = finish(client, request["state"])
        assert answer.status_code == 200, answer.text
        assert COOKIE in answer.cookies
        keys_page = client.get("/console/keys")
        assert keys_page.status_code == 200 and "alice" in keys_page.text
    form, authorization = hostile.token_requests[0]
    assert authorization is not None and authorization.startswith("Basic ")  # client_secret_basic
    assert "client_secret" not in form
    assert code_challenge(form["code_verifier"]) == request["code_challenge"]  # PKCE S256
    with sso.cp.store.session() as session:
        link = session.scalars(select(IdentityUser)).one()
        member = session.scalars(select(Member).where(Member.name == alice)).one()
        assert (link.member_id, link.oidc_issuer, link.oidc_subject) == (member.id, hostile.issuer, "sub-alice")
        record = session.scalars(select(AuditEvent).where(AuditEvent.action == "identity.signin")).one()
        assert record.target == member.id and "example.com" not in str(record.details)
        assert "sub-alice" not in str(record.details)
    # What vaultgate and its servers logged (the test's own HTTP client logs the URLs it requests).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore")))
    assert "sso" in logged or caplog.records  # the capture saw the run
    for secret in (token, form["code_verifier"], form["code"], CLIENT_SECRET, request["state"]):
        assert secret not in logged


def test_a_public_client_sends_no_secret(tmp_path: Path, hostile: HostileIssuer) -> None:
    for sso in sso_stack(tmp_path, f"sqlite:///{tmp_path / 'vg.db'}", hostile.issuer, client_secret=None):
        members.add(sso.cp, LOCAL_OPERATOR, "alice", email="alice@example.com")
        with httpx.Client(base_url=sso.url) as client:
            request = begin(client)
            hostile.answers(hostile.id_token(hostile.claims(request["nonce"])))
            assert finish(client, request["state"]).status_code == 200
        form, authorization = hostile.token_requests[0]
        assert authorization is None and form["client_id"] == CLIENT_ID and form["code_verifier"]


Forge = Callable[[HostileIssuer, str], str]
BAD_TOKENS: list[tuple[str, Forge, str]] = [
    ("wrong issuer", lambda h, n: h.id_token(h.claims(n, iss="https://evil.example")), "another issuer"),
    ("wrong audience", lambda h, n: h.id_token(h.claims(n, aud="someone-else")), "not for this client"),
    (
        "several audiences, azp another",
        lambda h, n: h.id_token(h.claims(n, aud=[CLIENT_ID, "x"], azp="x")),
        "issued to another party",
    ),
    ("wrong nonce", lambda h, n: h.id_token(h.claims("another-nonce")), "nonce is not this sign-in"),
    ("no nonce", lambda h, n: h.id_token(h.claims(n, nonce=None)), "nonce is not this sign-in"),
    ("expired", lambda h, n: h.id_token(h.claims(n, exp=1_000_000)), "has expired"),
    ("issued in the future", lambda h, n: h.id_token(h.claims(n, iat=4_000_000_000)), "issued in the future"),
    ("alg none", lambda h, n: unsigned(h.claims(n)), "not signed (alg: none)"),
    ("a key not in the JWKS", lambda h, n: h.id_token(h.claims(n), key=other_key()), "signature does not verify"),
    (
        "HS256 with the client secret",
        lambda h, n: h.id_token(h.claims(n), key=hmac_key(CLIENT_SECRET), alg="HS256"),
        "HS256, an algorithm vaultgate does not accept",
    ),
    ("not a JWT", lambda h, n: "not-a-jwt", "not a signed JWT"),
]


@pytest.mark.parametrize(("case", "forge", "message"), BAD_TOKENS, ids=[case for case, _, _ in BAD_TOKENS])
def test_a_bad_id_token_is_refused_and_changes_nothing(
    sso: SsoStack, hostile: HostileIssuer, alice: str, case: str, forge: Forge, message: str
) -> None:
    before = sso.counts()
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        hostile.answers(forge(hostile, request["nonce"]))
        refused(finish(client, request["state"]), 400, message)
        assert client.get("/console/keys", follow_redirects=False).status_code == 303  # not signed in
    assert sso.counts() == before


def test_a_state_mismatch_is_refused_before_the_issuer_is_called(
    sso: SsoStack, hostile: HostileIssuer, alice: str
) -> None:
    before = sso.counts()
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        hostile.answers(hostile.id_token(hostile.claims(request["nonce"])))
        refused(finish(client, request["state"] + "x"), 400, "state mismatch")
        other = begin(client)  # the cookie now holds the second sign-in's state
        refused(finish(client, request["state"]), 400, "state mismatch")
        assert other["state"] != request["state"]
    assert hostile.token_requests == []
    assert sso.counts() == before


def test_a_callback_without_the_state_cookie_is_refused(sso: SsoStack, hostile: HostileIssuer, alice: str) -> None:
    before = sso.counts()
    with httpx.Client(base_url=sso.url) as browser:
        request = begin(browser)
    hostile.answers(hostile.id_token(hostile.claims(request["nonce"])))
    with httpx.Client(base_url=sso.url) as attacker:  # the link, opened in another browser
        refused(finish(attacker, request["state"]), 400, "sign-in cookie is missing or expired")
    assert hostile.token_requests == []
    assert sso.counts() == before


def test_a_replayed_callback_is_refused_by_vaultgate_before_the_issuer(
    sso: SsoStack, hostile: HostileIssuer, alice: str
) -> None:
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        hostile.answers(hostile.id_token(hostile.claims(request["nonce"])))
        first = client.cookies.get("vg_console_sso")
        assert finish(client, request["state"]).status_code == 200
    after_first = sso.counts()
    with httpx.Client(base_url=sso.url, cookies={"vg_console_sso": first or ""}) as replay:
        refused(finish(replay, request["state"]), 400, "this sign-in link was already used")
    assert len(hostile.token_requests) == 1  # the issuer saw the code once
    assert sso.counts() == after_first


def test_an_issuer_error_and_an_unreachable_issuer(sso: SsoStack, hostile: HostileIssuer, alice: str) -> None:
    before = sso.counts()
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        hostile.answer = None  # the token endpoint answers invalid_grant
        refused(finish(client, request["state"]), 400, "the issuer refused the authorization code (invalid_grant)")
        request = begin(client)
        refused(
            client.get("/console/sso/callback", params={"error": "access_denied", "state": request["state"]}),
            403,
            "refused the sign-in (access_denied)",
        )
        request = begin(client)  # discovery is cached: the issuer is not needed until the code exchange
        hostile.stop()
        refused(finish(client, request["state"]), 502, "the issuer's token endpoint could not be reached")
    assert sso.counts() == before


def test_a_discovery_document_for_another_issuer_is_refused(sso: SsoStack, hostile: HostileIssuer) -> None:
    hostile.discovery_issuer = "https://evil.example"
    with httpx.Client(base_url=sso.url) as client:
        refused(client.get("/console/sso/start"), 502, "names another issuer than the configured one")


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"email_verified": False}, "has not verified this email address"),
        ({"email_verified": None}, "has not verified this email address"),
        ({"sub": "sub-nobody", "email": "nobody@example.com"}, "no vaultgate member for this identity"),
    ],
    ids=["unverified email", "no email_verified claim", "unknown person"],
)
def test_an_identity_without_a_member_is_refused(
    sso: SsoStack, hostile: HostileIssuer, alice: str, claims: dict[str, Any], message: str
) -> None:
    before = sso.counts()
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        hostile.answers(hostile.id_token(hostile.claims(request["nonce"], **claims)))
        refused(finish(client, request["state"]), 403, message)
    assert sso.counts() == before


def test_a_suspended_member_is_refused_even_when_linked(sso: SsoStack, hostile: HostileIssuer, alice: str) -> None:
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        hostile.answers(hostile.id_token(hostile.claims(request["nonce"])))
        assert finish(client, request["state"]).status_code == 200
        assert client.get("/console/keys").status_code == 200
        members.suspend(sso.cp, LOCAL_OPERATOR, alice)
        assert client.get("/console/keys", follow_redirects=False).status_code == 303  # the session ends at once
    before = sso.counts()
    with httpx.Client(base_url=sso.url) as client:
        request = begin(client)
        hostile.answers(hostile.id_token(hostile.claims(request["nonce"])))
        refused(finish(client, request["state"]), 403, "membership is suspended")
    assert sso.counts() == before


def test_an_email_domain_outside_the_allowed_ones_is_refused_even_when_linked(
    tmp_path: Path, hostile: HostileIssuer
) -> None:
    url = f"sqlite:///{tmp_path / 'vg.db'}"
    for sso in sso_stack(tmp_path, url, hostile.issuer, oidc_allowed_domains="corp.example, example.org"):
        members.add(sso.cp, LOCAL_OPERATOR, "alice", email="alice@corp.example")
        with httpx.Client(base_url=sso.url) as client:
            request = begin(client)
            hostile.answers(hostile.id_token(hostile.claims(request["nonce"], email="alice@corp.example")))
            assert finish(client, request["state"]).status_code == 200  # linked by its verified email
        before = sso.counts()
        for email in ("alice@example.com", "alice@corp.example.evil.com"):
            with httpx.Client(base_url=sso.url) as client:
                request = begin(client)
                hostile.answers(hostile.id_token(hostile.claims(request["nonce"], email=email)))
                refused(finish(client, request["state"]), 403, "this email domain may not sign in")
        assert sso.counts() == before
