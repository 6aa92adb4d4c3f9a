"""Class 2: a key (or token, or team admin) wider than its ceiling. One effective policy is enforced.

Reported: a plain member created their own key allowing emails, cards and ``store: true`` under a
team that blocks emails and forbids storing, and the upstream received the raw email, the card
and ``store: true``. Now: such a key is refused for anyone who cannot raise the ceiling; a key an
organisation admin makes anyway is narrowed by the effective policy; an organisation policy
holds every team; and an allowlist cannot be sidestepped by leaving ``model`` out.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.attacks.conftest import RecordingUpstream, Served

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
STRICT_TEAM: dict[str, Any] = {"privacy": {"pii": {"email": "block"}}}  # and, unset, allow_store: false
WIDE_KEY: dict[str, Any] = {"allow_store": True, "privacy": {"pii": {"email": "allow", "card": "allow"}}}


def admin(served: Served, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method, served.url + "/admin" + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def client(served: Served, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.base_url, api_key=key, max_retries=0)


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def test_a_member_cannot_create_a_key_wider_than_the_team(served: Served, upstream: RecordingUpstream) -> None:
    team = served.team(**STRICT_TEAM)
    me = served.member(team=team)
    response = admin(served, "POST", "/keys", served.admin_token(me), {"member": me, **WIDE_KEY})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "policy_exceeds_ceiling"
    for field in ("allow_store", "privacy.pii.email", "privacy.pii.card"):
        assert field in error["message"]
    listed = admin(served, "GET", f"/keys?member={me}", served.admin_token(me)).json()
    assert listed == [], "the refused key was created"


def test_a_team_admin_cannot_widen_the_team_nor_exceed_it(served: Served, upstream: RecordingUpstream) -> None:
    team = served.team(**STRICT_TEAM)
    boss = served.admin_token(served.member(team=team, role="admin"))
    member = served.member(team=team)
    response = admin(served, "POST", "/keys", boss, {"member": member, **WIDE_KEY})
    assert response.status_code == 400 and response.json()["error"]["code"] == "policy_exceeds_ceiling"
    widened = admin(served, "PUT", f"/teams/{team}/policy", boss, {"privacy": {"pii": {"email": "allow"}}})
    assert widened.status_code == 400, widened.text
    assert widened.json()["error"]["code"] == "policy_exceeds_ceiling"
    narrowed = admin(
        served, "PUT", f"/teams/{team}/policy", boss, {"privacy": {"pii": {"email": "block", "card": "block"}}}
    )
    assert narrowed.status_code == 200, narrowed.text


def test_an_org_admin_key_wider_than_the_team_is_narrowed_on_the_wire(
    served: Served, upstream: RecordingUpstream
) -> None:
    team = served.team(**STRICT_TEAM)
    member = served.member(team=team)
    org_admin = served.admin_token(served.member(role="admin"))
    created = admin(served, "POST", "/keys", org_admin, {"member": member, **WIDE_KEY})
    assert created.status_code == 201, created.text
    shown = created.json()
    served.sync()
    sdk = client(served, shown["key"])

    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(**chat(f"mail {EMAIL} please"))
    assert refused.value.code == "pii_blocked"
    assert upstream.requests == [], "a request the team blocks reached the upstream"

    sdk.chat.completions.create(**chat(f"charge card {CARD}", store=True))
    sent = upstream.everything()
    assert CARD.encode() not in sent and CARD.replace(" ", "").encode() not in sent
    assert EMAIL.encode() not in sent
    assert upstream.last.json().get("store") is False
    # The key's shown info says what its ceiling takes away.
    assert {"allow_store", "privacy.pii.email", "privacy.pii.card"} <= set(shown["narrowed"])
    assert shown["effective_policy"]["allow_store"] is False


def test_an_org_policy_holds_every_team(served: Served, upstream: RecordingUpstream) -> None:
    owner = served.admin_token(served.member(role="owner"))
    open_team = served.team()
    wide_team = served.team(models=["*"])
    keys = [
        served.key(served.member(team=open_team)),
        served.key(served.member(team=wide_team)),
        served.key(served.member()),
    ]
    member_token = served.admin_token(served.member(team=open_team))
    assert admin(served, "PUT", "/org/policy", member_token, {"models": ["gpt-4o-mini*"]}).status_code == 403
    try:
        response = admin(served, "PUT", "/org/policy", owner, {"models": ["gpt-4o-mini*"], "allow_store": True})
        assert response.status_code == 200, response.text
        served.sync()
        for key in keys:
            with pytest.raises(openai.PermissionDeniedError) as denied:
                client(served, key).chat.completions.create(**chat("hello", model="gpt-4o"))
            assert denied.value.code == "model_not_allowed"
        assert upstream.requests == []
        client(served, keys[0]).chat.completions.create(**chat("hello"))
        assert len(upstream.requests) == 1
    finally:
        assert admin(served, "DELETE", "/org/policy", owner).status_code == 200
        served.sync()


def test_an_allowlist_cannot_be_sidestepped(served: Served, upstream: RecordingUpstream) -> None:
    key = served.key(served.member(), models=["gpt-4o-mini"])
    no_model = served.post("/embeddings", key, {"input": "hello"})
    assert no_model.status_code == 400, no_model.text
    assert no_model.json()["error"]["code"] == "model_required"
    assert no_model.json()["error"]["param"] == "model"
    prefixed = served.key(served.member(), models=["gpt-4o*"])
    crossing = served.post("/chat/completions", prefixed, chat("hi", model="gpt-4o/../../files"))
    assert crossing.status_code == 403 and crossing.json()["error"]["code"] == "model_not_allowed"
    assert upstream.requests == []


def test_a_short_lived_token_cannot_ask_for_more_than_its_key(served: Served, upstream: RecordingUpstream) -> None:
    key = served.key(served.member(), models=["gpt-4o-mini"], scopes={"embeddings": "none"})
    for wider in ({"models": ["*"]}, {"scopes": {"embeddings": "write"}}):
        response = served.post("/vaultgate/tokens", key, wider)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "policy_exceeds_ceiling"
    narrower = served.post("/vaultgate/tokens", key, {"scopes": {"chat": "read"}})
    assert narrower.status_code == 200, narrower.text
