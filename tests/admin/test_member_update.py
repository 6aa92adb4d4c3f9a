"""Member update (team, role, email, display name) and removal, through the admin API and the services,
on SQLite and PostgreSQL: what changes, what the audit trail says (ids, never the email or display name),
and every attempt to do more than one's role allows."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select
from tests.conftest import Stack

from vaultgate.services import admin_tokens, keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, Role
from vaultgate.services.errors import Conflict, NotAuthorised, PolicyExceedsCeiling
from vaultgate.store.models import AuditEvent, Member, MemberKey, ShortLivedToken

EMAIL, DISPLAY = "kit.hollow@example.org", "Kit Hollow"


def client(stack: Stack, name: str | None = None) -> httpx.Client:
    token = stack.admin_token if name is None else admin_tokens.create(stack.cp, LOCAL_OPERATOR, name)[1]
    return httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token}"})


def row(stack: Stack, name: str) -> Member:
    with stack.cp.store.session() as session:
        found = session.scalar(select(Member).where(Member.name == name))
        assert found is not None
        session.expunge(found)
        return found


def snapshot(stack: Stack, name: str) -> tuple[Any, ...]:
    m = row(stack, name)
    return (m.team_id, m.role, m.email, m.display_name, m.status)


def records(stack: Stack, action: str, outcome: str = "ok") -> list[AuditEvent]:
    with stack.cp.store.session() as session:
        found = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.outcome == outcome)
            .order_by(AuditEvent.seq)
        ).all()
        for event in found:
            session.expunge(event)
        return list(found)


def test_an_owner_changes_team_role_email_and_display_name_audited_by_id_only(stack: Stack) -> None:
    lab, ops = (teams.create(stack.cp, LOCAL_OPERATOR, t) for t in ("lab", "ops"))
    kit = members.add(stack.cp, LOCAL_OPERATOR, "kit", team="lab")
    owner = client(stack)

    resp = owner.patch("/admin/members/kit", json={"team": "ops", "email": EMAIL, "display_name": f"  {DISPLAY} "})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["team"], body["email"], body["display_name"], body["role"]) == ("ops", EMAIL, DISPLAY, "member")
    assert owner.patch("/admin/members/kit", json={"role": "auditor"}).json()["role"] == "auditor"

    updates = records(stack, "member.update")
    assert [(e.target, e.details) for e in updates] == [
        (kit.id, {"changed": ["display_name", "email", "team"], "team": ops.id}),
        (kit.id, {"changed": ["role"], "role": "auditor"}),
    ]
    trail = repr([(e.target, e.details) for e in records(stack, "member.update")])
    assert EMAIL not in trail and DISPLAY not in trail and "kit" not in trail.replace(kit.id, "")
    assert lab.id != ops.id

    # The same values again change nothing and audit nothing; an empty string clears.
    assert owner.patch("/admin/members/kit", json={"team": "ops", "email": EMAIL}).status_code == 200
    assert len(records(stack, "member.update")) == 2
    cleared = owner.patch("/admin/members/kit", json={"email": "", "display_name": ""}).json()
    assert (cleared["email"], cleared["display_name"]) == (None, None)
    assert records(stack, "member.update")[-1].details == {"changed": ["display_name", "email"]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "nothing to change"),
        ({"email": "not-an-address"}, "invalid email"),
        ({"display_name": "a\x07b"}, "invalid display name"),
        ({"display_name": "x" * 201}, "display_name"),
        ({"role": "superuser"}, "role"),
        ({"team": "nowhere"}, "no team named 'nowhere'"),
        ({"name": "renamed"}, "name"),
    ],
)
def test_bad_updates_are_refused_with_nothing_changed(stack: Stack, body: dict[str, Any], param: str) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "lab")
    members.add(stack.cp, LOCAL_OPERATOR, "kit", team="lab", email=EMAIL)
    before = snapshot(stack, "kit")
    resp = client(stack).patch("/admin/members/kit", json=body)
    assert resp.status_code in (400, 404), resp.text
    assert param in resp.json()["error"]["message"] or resp.json()["error"]["param"] == param
    assert snapshot(stack, "kit") == before
    assert records(stack, "member.update") == []


def test_a_move_is_refused_while_a_key_is_wider_than_the_new_teams_ceiling(stack: Stack) -> None:
    for team in ("lab", "tight"):
        teams.create(stack.cp, LOCAL_OPERATOR, team)
    teams.set_policy(stack.cp, LOCAL_OPERATOR, "tight", policy={"models": ["gpt-4o-mini"]})
    members.add(stack.cp, LOCAL_OPERATOR, "kit", team="lab")
    narrow = keys.create(stack.cp, LOCAL_OPERATOR, "kit", policy={"models": ["gpt-4o-mini"]})
    wide = keys.create(stack.cp, LOCAL_OPERATOR, "kit", policy={"models": ["gpt-4o*"]})
    before = snapshot(stack, "kit")

    resp = client(stack).patch("/admin/members/kit", json={"team": "tight"})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "policy_exceeds_ceiling"
    assert wide.info.id in error["message"] and "models" in error["message"] and narrow.info.id not in error["message"]
    assert snapshot(stack, "kit") == before
    with pytest.raises(PolicyExceedsCeiling):  # the same for the service (and so the CLI)
        members.update(stack.cp, LOCAL_OPERATOR, "kit", team="tight")

    keys.revoke(stack.cp, LOCAL_OPERATOR, wide.info.id)
    assert members.update(stack.cp, LOCAL_OPERATOR, "kit", team="tight").team == "tight"


def test_nobody_updates_beyond_their_role(stack: Stack) -> None:
    cp = stack.cp
    for team in ("lab", "ops"):
        teams.create(cp, LOCAL_OPERATOR, team)
    members.add(cp, LOCAL_OPERATOR, "lead", team="lab", role="admin")  # team admin of lab
    members.add(cp, LOCAL_OPERATOR, "boss", role="admin")  # organisation admin
    members.add(cp, LOCAL_OPERATOR, "kit", team="lab")
    members.add(cp, LOCAL_OPERATOR, "pat", team="ops")
    members.add(cp, LOCAL_OPERATOR, "co", role="owner")
    lead, boss, kit = client(stack, "lead"), client(stack, "boss"), client(stack, "kit")
    before = {n: snapshot(stack, n) for n in ("lead", "boss", "kit", "pat", "co", "admin")}

    attempts = [
        (lead, "kit", {"team": "ops"}, 403),  # a team admin moves someone out of their team
        (lead, "kit", {"role": "admin"}, 403),  # raises a role
        (lead, "pat", {"team": "lab"}, 404),  # another team's member: not even visible
        (lead, "pat", {"display_name": "x"}, 404),
        (lead, "lead", {"role": "owner"}, 403),  # their own role
        (lead, "lead", {"team": "ops"}, 403),  # their own team
        (boss, "kit", {"role": "admin"}, 403),  # an org admin cannot grant roles
        (boss, "lead", {"team": "ops"}, 403),  # nor change another admin
        (boss, "co", {"role": "member"}, 403),  # nor demote an owner
        (kit, "kit", {"role": "admin"}, 403),  # a member raising themselves
        (kit, "lead", {"email": "x@example.org"}, 404),  # a member changing someone else
    ]
    for actor, target, body, status in attempts:
        resp = actor.patch(f"/admin/members/{target}", json=body)
        assert resp.status_code == status, (target, body, resp.text)
    assert {n: snapshot(stack, n) for n in before} == before
    assert records(stack, "member.update") == []
    assert len(records(stack, "member.update", "refused")) == len(attempts)

    # What each may do: a member their own email and display name, a team admin their team's members,
    # an org admin moves a plain member, an owner grants a role.
    assert kit.patch("/admin/members/kit", json={"display_name": "Kit"}).status_code == 200
    assert lead.patch("/admin/members/kit", json={"email": EMAIL}).status_code == 200
    assert boss.patch("/admin/members/kit", json={"team": "ops"}).json()["team"] == "ops"
    assert client(stack).patch("/admin/members/kit", json={"role": "admin"}).json()["role"] == "admin"


def test_the_last_owner_is_never_demoted(stack: Stack) -> None:
    with pytest.raises(Conflict, match="last active owner"):
        members.update(stack.cp, LOCAL_OPERATOR, "admin", role="admin")
    assert row(stack, "admin").role == "owner"
    members.add(stack.cp, LOCAL_OPERATOR, "co", role="owner")
    assert members.update(stack.cp, LOCAL_OPERATOR, "admin", role="admin").role == "admin"


def test_removal_revokes_every_credential_and_keeps_the_record(stack: Stack) -> None:
    cp = stack.cp
    teams.create(cp, LOCAL_OPERATOR, "lab")
    kit = members.add(cp, LOCAL_OPERATOR, "kit", team="lab")
    key = stack.key("kit")
    second = keys.create(cp, LOCAL_OPERATOR, "kit")
    _, admin_token = admin_tokens.create(cp, LOCAL_OPERATOR, "kit")
    sdk = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    stack.usage(1)
    with cp.store.session() as session:
        session.add(
            ShortLivedToken(
                id="slt_" + secrets.token_hex(8),
                key_id=second.info.id,
                token_hash=secrets.token_hex(32),
                policy={},
                created_at=cp.clock(),
                expires_at=cp.clock(),
                parent_key_hash=None,
            )
        )

    resp = client(stack).delete("/admin/members/kit")
    assert resp.status_code == 200, resp.text
    assert resp.json() | {"member": None} == {
        "member": None,
        "keys_revoked": 2,
        "admin_tokens_revoked": 1,
        "short_lived_tokens_deleted": 1,
    }
    assert resp.json()["member"]["status"] == "removed"
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert (
        httpx.get(stack.gateway.url + "/admin/me", headers={"authorization": f"Bearer {admin_token}"}).status_code
        == 401
    )
    with cp.store.session() as session:
        reasons = set(session.scalars(select(MemberKey.revoked_reason).where(MemberKey.member_id == kit.id)))
    assert reasons == {"removed"}
    assert row(stack, "kit").status == "removed" and len(stack.usage(1)) == 1  # the row and its usage stay
    assert [(e.target, e.details["keys_revoked"]) for e in records(stack, "member.remove")] == [(kit.id, 2)]
    # Final: no second removal, no resumption, no update.
    assert client(stack).delete("/admin/members/kit").status_code == 409
    for attempt in (
        lambda: members.resume(cp, LOCAL_OPERATOR, "kit"),
        lambda: members.update(cp, LOCAL_OPERATOR, "kit", email=EMAIL),
    ):
        with pytest.raises(Conflict):
            attempt()


def test_nobody_removes_themselves_the_last_owner_or_beyond_their_role(stack: Stack) -> None:
    cp = stack.cp
    for team in ("lab", "ops"):
        teams.create(cp, LOCAL_OPERATOR, team)
    members.add(cp, LOCAL_OPERATOR, "lead", team="lab", role="admin")
    members.add(cp, LOCAL_OPERATOR, "boss", role="admin")
    members.add(cp, LOCAL_OPERATOR, "pat", team="ops")
    lead, boss, owner = client(stack, "lead"), client(stack, "boss"), client(stack)
    attempts = [
        (owner, "admin", 403),  # oneself
        (lead, "lead", 403),
        (lead, "admin", 404),  # an owner, outside a team admin's reach
        (lead, "pat", 404),  # another team's member
        (boss, "lead", 403),  # an org admin removing an admin
        (boss, "admin", 403),  # ... or an owner
    ]
    for actor, target, status in attempts:
        assert actor.delete(f"/admin/members/{target}").status_code == status, target
    with pytest.raises(Conflict, match="last active owner"):
        members.remove(cp, LOCAL_OPERATOR, "admin")
    with pytest.raises(NotAuthorised):
        members.remove(cp, members_actor(stack, "lead"), "lead")
    assert {row(stack, n).status for n in ("admin", "lead", "boss", "pat")} == {"active"}
    assert records(stack, "member.remove") == []


def members_actor(stack: Stack, name: str) -> Actor:
    m = row(stack, name)
    return Actor(name=m.name, role=Role(m.role), member_id=m.id, team_id=m.team_id)
