"""The admin REST API: authentication, roles, members, keys, providers, leak reports, OpenAPI."""

from __future__ import annotations

import hashlib

import httpx
import openai
import pytest
from tests.conftest import Stack

from vaultgate.keys import tokens
from vaultgate.services import keys as key_service
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AdminToken, Member


def admin(stack: Stack, token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token or stack.admin_token}"})


def member_admin_token(stack: Stack, name: str) -> str:
    """An admin-API token for a member (issuing them is a later feature; made directly here)."""
    from sqlalchemy import select

    token = tokens.mint(tokens.TokenKind.ADMIN_TOKEN)
    with stack.cp.store.session() as session:
        member = session.scalar(select(Member).where(Member.name == name))
        assert member is not None
        session.add(
            AdminToken(
                id="adm_" + name,
                member_id=member.id,
                token_hash=stack.cp.hasher.token_hash(token),
                display=tokens.display(token),
                created_at=stack.cp.clock(),
                expires_at=None,
                revoked_at=None,
            )
        )
    return token


def test_openapi_is_served(stack: Stack) -> None:
    spec = httpx.get(stack.gateway.url + "/admin/openapi.json").json()
    assert spec["info"]["title"] == "vaultgate admin API"
    assert "/admin/keys" in spec["paths"] and "/admin/keys/{key_id}/revoke" in spec["paths"]


@pytest.mark.parametrize("token", [None, "vga_nope", "Bearer", "vgk_" + "a" * 38])
def test_admin_api_requires_a_valid_admin_token(stack: Stack, token: str | None) -> None:
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    resp = httpx.get(stack.gateway.url + "/admin/keys", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_admin_token"


def test_member_key_is_not_an_admin_token(stack: Stack) -> None:
    stack.member("alice")
    resp = admin(stack, stack.key("alice")).get("/admin/keys")
    assert resp.status_code == 401


def test_create_list_revoke_key(stack: Stack) -> None:
    a = admin(stack)
    assert a.get("/admin/me").json() == {
        "name": "admin",
        "role": "owner",
        "member_id": a.get("/admin/me").json()["member_id"],
    }
    assert (
        a.post(
            "/admin/members",
            json={"name": "alice", "email": "alice@example.com", "team": "research", "create_team": True},
        ).status_code
        == 201
    )
    created = a.post(
        "/admin/keys",
        json={"member": "alice", "models": ["gpt-4o*"], "scopes": {"embeddings": "none"}, "expires_in": "90d"},
    )
    assert created.status_code == 201
    body = created.json()
    assert tokens.parse(body["key"]) is not None
    assert body["display"] == tokens.display(body["key"])
    listed = a.get("/admin/keys").json()
    assert [k["id"] for k in listed] == [body["id"]]
    assert (
        "key" not in listed[0]
        and body["key"] not in httpx.get(stack.gateway.url + "/admin/keys", headers=a.headers).text
    )
    assert listed[0]["policy"]["models"] == ["gpt-4o*"]
    assert a.post(f"/admin/keys/{body['id']}/revoke").json()["status"] == "revoked"
    again = a.post(f"/admin/keys/{body['id']}/revoke")
    assert again.status_code == 409
    assert a.post("/admin/keys/key_doesnotexist/revoke").status_code == 404


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"member": "alice", "scopes": {"chatty": "write"}}, "unknown endpoint group"),
        ({"member": "alice", "scopes": {"chat": "all"}}, "scopes.chat"),
        ({"member": "alice", "ip_allow": ["10.0.0.0/33"]}, "not an IP address or CIDR"),
        ({"member": "alice", "expires_in": "soon"}, "invalid expiry"),
        ({"member": "alice", "expires_in": "0d"}, "expiry must be in the future"),
        ({"member": "alice", "colour": "blue"}, "colour"),
        ({"member": "nobody"}, "no member named"),
    ],
)
def test_bad_key_requests_are_precise_and_store_nothing(
    stack: Stack, payload: dict[str, object], fragment: str
) -> None:
    a = admin(stack)
    a.post("/admin/members", json={"name": "alice"})
    resp = a.post("/admin/keys", json=payload)
    assert resp.status_code in (400, 404), resp.text
    assert fragment in resp.json()["error"]["message"]
    assert a.get("/admin/keys").json() == []


def test_member_role_sees_and_revokes_only_their_own_keys(stack: Stack) -> None:
    a = admin(stack)
    a.post("/admin/members", json={"name": "alice"})
    a.post("/admin/members", json={"name": "bob"})
    bob_key = a.post("/admin/keys", json={"member": "bob"}).json()
    alice = admin(stack, member_admin_token(stack, "alice"))
    own = alice.post("/admin/keys", json={"member": "alice"})
    assert own.status_code == 201
    assert [k["member"] for k in alice.get("/admin/keys").json()] == ["alice"]
    assert alice.get("/admin/keys", params={"member": "bob"}).status_code == 404
    assert alice.post(f"/admin/keys/{bob_key['id']}/revoke").status_code == 404
    assert alice.post("/admin/keys", json={"member": "bob"}).status_code == 404  # not even told bob exists
    assert alice.post("/admin/members", json={"name": "mallory"}).status_code == 403
    assert alice.get("/admin/providers").status_code == 403
    assert [m["name"] for m in alice.get("/admin/members").json()] == ["alice"]
    assert alice.post(f"/admin/keys/{own.json()['id']}/revoke").status_code == 200
    assert a.get("/admin/keys", params={"member": "bob"}).json()[0]["status"] == "active"


def test_refused_admin_actions_change_nothing(stack: Stack) -> None:
    a = admin(stack)
    assert a.post("/admin/members", json={"name": "alice"}).status_code == 201
    assert a.post("/admin/members", json={"name": "alice"}).status_code == 409
    assert a.post("/admin/members", json={"name": "bad name!"}).status_code == 400
    assert a.post("/admin/members", json={"name": "eve", "role": "emperor"}).status_code == 400
    assert [m["name"] for m in a.get("/admin/members").json()] == ["admin", "alice"]


def test_provider_keys_are_never_returned_and_http_is_refused(stack: Stack) -> None:
    a = admin(stack)
    listed = a.get("/admin/providers").json()
    assert listed[0]["has_key"] is True and stack.upstream_key not in a.get("/admin/providers").text
    resp = a.post(
        "/admin/providers",
        json={"name": "plain", "kind": "compatible", "base_url": "http://api.example.com/v1", "api_key": "x"},
    )
    assert resp.status_code == 400 and "http://" in resp.json()["error"]["message"]
    resp = a.post(
        "/admin/providers",
        json={
            "name": "lan",
            "kind": "compatible",
            "base_url": "http://192.168.1.10/v1",
            "api_key": "x",
            "allow_insecure_http": True,
        },
    )
    assert resp.status_code == 400 and "loopback" in resp.json()["error"]["message"]
    assert [p["name"] for p in a.get("/admin/providers").json()] == ["capture"]


def test_leak_report_revokes_by_fingerprint(stack: Stack) -> None:
    stack.member("alice")
    leaked = stack.key("alice")
    fine = stack.key("alice")
    fp = hashlib.sha256(leaked.encode()).hexdigest()
    resp = admin(stack).post("/admin/keys/leaked", json={"fingerprints": [fp, "0" * 64], "source": "scan"})
    assert resp.status_code == 200
    assert resp.json()["unknown"] == 1
    assert resp.json()["revoked"][0]["display"] == tokens.display(leaked)
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.base_url, api_key=leaked, max_retries=0).models.list()
    assert openai.OpenAI(base_url=stack.base_url, api_key=fine, max_retries=0).models.list().data
    statuses = {k.display: (k.status) for k in key_service.list_keys(stack.cp, LOCAL_OPERATOR, "alice")}
    assert statuses[tokens.display(leaked)] == "revoked"
    bad = admin(stack).post("/admin/keys/leaked", json={"fingerprints": [leaked]})
    assert bad.status_code == 400 and leaked not in bad.text
