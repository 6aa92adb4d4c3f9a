"""Every admin route checks the role and the object's owner: members never see another member's keys."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import Stack

from vaultgate.services import admin_tokens, teams
from vaultgate.services.context import LOCAL_OPERATOR


def as_member(stack: Stack, name: str, role: str | None = None) -> httpx.Client:
    _, token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, name, role=role)
    return httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token}"})


@pytest.fixture
def org(stack: Stack) -> Stack:
    teams.create(stack.cp, LOCAL_OPERATOR, "red")
    teams.create(stack.cp, LOCAL_OPERATOR, "blue")
    stack.member("alice", team="red")
    stack.member("bob", team="blue")
    stack.member("rita", team="red", role="admin")
    stack.member("otto", role="admin")
    stack.member("audrey", role="auditor")
    for name in ("alice", "bob", "rita"):
        stack.key(name)
    return stack


def ids_by_member(client: httpx.Client) -> set[str]:
    return {k["member"] for k in client.get("/admin/keys").json()}


def test_member_sees_and_manages_only_their_own_keys(org: Stack) -> None:
    alice = as_member(org, "alice")
    bob_key = next(k for k in as_member(org, "admin").get("/admin/keys").json() if k["member"] == "bob")
    assert ids_by_member(alice) == {"alice"}
    # Every route that names bob or bob's key answers as if it did not exist.
    assert alice.get("/admin/keys", params={"member": "bob"}).status_code == 404
    assert alice.post(f"/admin/keys/{bob_key['id']}/revoke").status_code == 404
    assert alice.post(f"/admin/keys/{bob_key['id']}/rotate", json={}).status_code == 404
    assert alice.post("/admin/keys", json={"member": "bob"}).status_code == 404
    assert alice.post("/admin/members/bob/suspend").status_code == 404
    assert [m["name"] for m in alice.get("/admin/members").json()] == ["alice"]
    assert bob_key["display"] not in alice.get("/admin/keys").text
    # Not a manager: no members, teams, providers, lockdown, leak reports, audit.
    assert alice.post("/admin/members", json={"name": "mallory"}).status_code == 403
    assert alice.post("/admin/teams", json={"name": "green"}).status_code == 403
    assert alice.get("/admin/providers").status_code == 403
    assert alice.put("/admin/lockdown", json={"on": True}).status_code == 403
    assert alice.post("/admin/keys/leaked", json={"fingerprints": ["0" * 64]}).status_code == 403
    assert alice.get("/admin/audit/verify").status_code == 403
    # Their own keys: yes.
    created = alice.post("/admin/keys", json={"member": "alice"})
    assert created.status_code == 201
    assert alice.post(f"/admin/keys/{created.json()['id']}/rotate", json={"grace": "0s"}).status_code == 200
    assert alice.post(f"/admin/keys/{created.json()['id']}/revoke").status_code == 200


def test_team_admin_manages_their_team_only(org: Stack) -> None:
    rita = as_member(org, "rita")
    assert ids_by_member(rita) == {"alice", "rita"}
    assert rita.post("/admin/keys", json={"member": "alice"}).status_code == 201
    assert rita.post("/admin/keys", json={"member": "bob"}).status_code == 404
    assert rita.post("/admin/members/alice/suspend").status_code == 200
    assert rita.post("/admin/members/bob/suspend").status_code == 404
    added = rita.post("/admin/members", json={"name": "carol"})
    assert added.status_code == 201 and added.json()["team"] == "red"
    assert rita.post("/admin/members", json={"name": "dave", "team": "blue"}).status_code == 403
    assert rita.post("/admin/members", json={"name": "eve", "role": "admin"}).status_code == 403
    assert rita.put("/admin/teams/red/policy", json={"models": ["gpt-4o*"]}).status_code == 200
    # Another team is outside a team admin's scope: as if it did not exist (no oracle).
    assert rita.put("/admin/teams/blue/policy", json={"models": ["gpt-4o*"]}).status_code == 404
    assert rita.post("/admin/teams/blue/suspend").status_code == 403
    assert rita.get("/admin/providers").status_code == 403


def test_org_admin_cannot_touch_other_admins_or_owners(org: Stack) -> None:
    otto = as_member(org, "otto")
    rita_key = next(k for k in otto.get("/admin/keys").json() if k["member"] == "rita")
    assert otto.post(f"/admin/keys/{rita_key['id']}/revoke").status_code == 403
    assert otto.post("/admin/members/rita/suspend").status_code == 403
    assert otto.post("/admin/members/admin/suspend").status_code == 403
    assert otto.post("/admin/members", json={"name": "zed", "role": "owner"}).status_code == 403
    assert otto.post("/admin/members/bob/suspend").status_code == 200
    assert otto.get("/admin/providers").status_code == 200


def test_auditor_reads_everything_and_changes_nothing(org: Stack) -> None:
    audrey = as_member(org, "audrey")
    assert ids_by_member(audrey) == {"alice", "bob", "rita"}
    assert audrey.get("/admin/audit/verify").json()["ok"] is True
    assert audrey.get("/admin/usage").status_code == 200
    some_key = audrey.get("/admin/keys").json()[0]
    assert audrey.post(f"/admin/keys/{some_key['id']}/revoke").status_code == 403
    assert audrey.post("/admin/keys", json={"member": "alice"}).status_code == 403
    assert audrey.post("/admin/members", json={"name": "x"}).status_code == 403
    assert audrey.put("/admin/lockdown", json={"on": True}).status_code == 403


def test_admin_tokens_are_role_scoped_and_expire(org: Stack) -> None:
    owner = as_member(org, "admin")
    read_only = owner.post("/admin/tokens", json={"member": "admin", "role": "auditor", "expires_in": "1h"})
    assert read_only.status_code == 201
    auditor_view = httpx.Client(
        base_url=org.gateway.url, headers={"authorization": f"Bearer {read_only.json()['token']}"}
    )
    assert auditor_view.get("/admin/me").json()["role"] == "auditor"
    assert auditor_view.post("/admin/members", json={"name": "x"}).status_code == 403
    alice = as_member(org, "alice")
    assert alice.post("/admin/tokens", json={"member": "alice", "role": "admin"}).status_code == 403
    assert alice.post("/admin/tokens", json={"member": "bob"}).status_code == 403
    assert owner.post("/admin/tokens", json={"member": "alice", "expires_in": "400d"}).status_code == 400
    assert all(t["expires_at"] for t in owner.get("/admin/tokens").json())
    token_id = read_only.json()["id"]
    assert owner.post(f"/admin/tokens/{token_id}/revoke").status_code == 200
    assert auditor_view.get("/admin/me").status_code == 401


def test_refused_actions_are_audited_and_change_nothing(org: Stack) -> None:
    alice = as_member(org, "alice")
    before = [k["id"] for k in as_member(org, "admin").get("/admin/keys").json()]
    assert alice.post("/admin/keys", json={"member": "alice", "ip_allow": ["300.1.1.1"]}).status_code == 400
    assert (
        alice.post("/admin/keys", json={"member": "alice", "expires_in": "2000-01-01T00:00:00+00:00"}).status_code
        == 400
    )
    assert alice.post("/admin/members", json={"name": "mallory"}).status_code == 403
    assert [k["id"] for k in as_member(org, "admin").get("/admin/keys").json()] == before
    from sqlalchemy import select

    from vaultgate.store.models import AuditEvent, Member

    with org.cp.store.session() as session:
        refused = session.execute(
            select(AuditEvent.actor, AuditEvent.action).where(AuditEvent.outcome == "refused")
        ).all()
    with org.cp.store.session() as session:
        alice_id = session.scalar(select(Member.id).where(Member.name == "alice"))
    # The trail names the member by id: the name is personal data an erasure removes.
    assert (alice_id, "key.create") in refused and (alice_id, "member.create") in refused
    # A body the schema rejects is a refused action too.
    assert alice.post("/admin/keys", json={"member": "alice", "scopes": {"chat": "all"}}).status_code == 400
    with org.cp.store.session() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.outcome == "refused")).all()
    assert "POST /admin/keys" in actions
