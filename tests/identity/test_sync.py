"""``vaultgate identity sync``: seeded drift between the last SCIM state and vaultgate, on SQLite and PostgreSQL.

The dry run lists each difference exactly and changes nothing (the store dumped before and after); applying
fixes what it may (deprovision, place), audits it, and leaves an admin's suspension and the members SCIM does
not manage alone; a second dry run finds nothing to apply. Roles: owners, org admins and auditors read;
a member is refused on the admin API; only owners and org admins apply.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import Stack
from tests.identity.scim_state import scim_user
from tests.support.cli import run_for
from vaultgate.services import admin_tokens, identity, identity_sync, keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, Role
from vaultgate.services.errors import NotAuthorised
from vaultgate.store.models import AdminToken, AuditEvent, Member, MemberKey


def _dump(stack: Stack) -> dict[str, Any]:
    """Everything sync may change: members, keys, admin tokens, and the audit trail's length."""
    revision = stack.cp.store.revision()
    with stack.cp.store.session() as session:
        return {
            "members": sorted((m.name, m.team_id, m.role, m.status) for m in session.scalars(select(Member))),
            "keys": sorted((k.id, k.revoked_at) for k in session.scalars(select(MemberKey))),
            "tokens": sorted((t.id, t.revoked_at) for t in session.scalars(select(AdminToken))),
            "audit": session.scalar(select(func.count()).select_from(AuditEvent)),
            "revision": revision,
        }


def _seed(stack: Stack) -> dict[str, str]:
    """Drift of every kind; the admin tokens issued, by member name."""
    cp = stack.cp
    teams.create(cp, LOCAL_OPERATOR, "platform")
    teams.create(cp, LOCAL_OPERATOR, "research")
    identity.set_mapping(cp, LOCAL_OPERATOR, "eng-platform", "platform", "member")
    identity.set_mapping(cp, LOCAL_OPERATOR, "eng-admins", None, "admin")
    for name, team in [
        ("leaver", "platform"),
        ("gone", "platform"),
        ("held", "platform"),
        ("mover", "research"),
        ("promoted", "platform"),
        ("steady", "platform"),
        ("local", None),
        ("oidc-only", None),
    ]:
        members.add(cp, LOCAL_OPERATOR, name, team=team)
    for name in ("leaver", "gone", "held", "local"):
        keys.create(cp, LOCAL_OPERATOR, name)
    tokens = {name: admin_tokens.create(cp, LOCAL_OPERATOR, name)[1] for name in ("leaver", "steady")}
    members.suspend(cp, LOCAL_OPERATOR, "gone")  # suspended, but its key is still live
    members.suspend(cp, LOCAL_OPERATOR, "held")  # an admin's suspension
    scim_user(cp, "leaver", active=False, groups=["eng-platform"])
    scim_user(cp, "gone", active=False, groups=["eng-platform"])
    scim_user(cp, "held", active=True, groups=["eng-platform"])
    scim_user(cp, "mover", groups=["eng-platform"])
    scim_user(cp, "promoted", groups=["eng-platform", "eng-admins"])
    scim_user(cp, "steady", groups=["eng-platform"])
    scim_user(cp, "oidc-only", managed=False)
    return tokens


def _found(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(d["member"], d["kind"], d["action"]) for d in document["differences"]}


EXPECTED = {
    ("leaver", "deactivated_but_active", "deprovision"),
    ("gone", "deactivated_with_credentials", "deprovision"),
    ("held", "active_but_suspended", "none"),
    ("mover", "team", "place"),
    ("promoted", "role", "place"),
}


def test_dry_run_lists_each_difference_changes_nothing_and_apply_fixes_them(stack: Stack) -> None:
    tokens = _seed(stack)
    before = _dump(stack)

    dry = run_for(stack.settings, "identity", "sync", "--dry-run", "--json")
    assert dry.returncode == 1, dry.stderr
    document = json.loads(dry.stdout)
    assert _found(document) == EXPECTED
    assert len(document["differences"]) == len(EXPECTED)  # each exactly once
    by_kind = {d["kind"]: d for d in document["differences"]}
    assert by_kind["team"]["provider"] == "team platform" and by_kind["team"]["vaultgate"] == "team research"
    assert by_kind["role"]["provider"] == "role admin" and by_kind["role"]["vaultgate"] == "role member"
    assert "1 live key and 1 admin token" in by_kind["deactivated_but_active"]["vaultgate"]
    assert "an admin stands" in by_kind["active_but_suspended"]["note"]
    unmanaged = {(u["member"], u["reason"]) for u in document["unmanaged"]}
    assert unmanaged == {
        ("admin", "no identity record"),
        ("local", "no identity record"),
        ("oidc-only", "identity record not managed by SCIM"),
    }
    assert document["in_sync"] is False and document["managed"] == 6
    text = run_for(stack.settings, "identity", "sync", "--dry-run")
    assert text.returncode == 1
    assert "leaver" in text.stdout and "Not managed by SCIM (3" in text.stdout
    assert _dump(stack) == before  # the dry runs changed nothing, not even the audit trail

    # The leaver's admin token works until applied.
    me = httpx.get(stack.gateway.url + "/admin/me", headers={"authorization": f"Bearer {tokens['leaver']}"})
    assert me.status_code == 200

    applied = run_for(stack.settings, "identity", "sync", "--json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    outcomes = {(a["member"], a["action"], a["outcome"]) for a in json.loads(applied.stdout)["applied"]}
    assert outcomes == {
        ("leaver", "deprovision", "done"),
        ("gone", "deprovision", "done"),
        ("mover", "place", "done"),
        ("promoted", "place", "done"),
    }
    state = {m.name: m for m in members.list_members(stack.cp, LOCAL_OPERATOR)}
    assert state["leaver"].status == "suspended" and state["gone"].status == "suspended"
    assert state["held"].status == "suspended"  # still suspended: never resumed by sync
    assert state["mover"].team == "platform" and state["promoted"].role == "admin"
    assert (state["local"].status, state["local"].role) == ("active", "member")
    live = {k.member for k in keys.list_keys(stack.cp, LOCAL_OPERATOR) if k.revoked_at is None}
    assert live == {"held", "local"}  # the admin-suspended member keeps their key; so does the unmanaged one
    me = httpx.get(stack.gateway.url + "/admin/me", headers={"authorization": f"Bearer {tokens['leaver']}"})
    assert me.status_code == 401
    with stack.cp.store.session() as session:
        actions = [a for (a,) in session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).all()]
    done = actions[len(actions) - 5 :]
    assert sorted(done) == sorted(["identity.deprovision"] * 2 + ["identity.place"] * 2 + ["identity.sync"])

    again = run_for(stack.settings, "identity", "sync", "--dry-run", "--json")
    assert again.returncode == 0, again.stdout
    second = json.loads(again.stdout)
    assert second["in_sync"] is True
    assert _found(second) == {("held", "active_but_suspended", "none")}  # reported, never applied


def test_roles_read_and_apply(stack: Stack) -> None:
    _seed(stack)
    members.add(stack.cp, LOCAL_OPERATOR, "ada", role="auditor")
    members.add(stack.cp, LOCAL_OPERATOR, "plain")
    auditor = Actor("ada", Role.AUDITOR, member_id=members.list_members(stack.cp, LOCAL_OPERATOR)[0].id)
    assert identity_sync.report(stack.cp, auditor).actionable
    with pytest.raises(NotAuthorised):
        identity_sync.apply(stack.cp, auditor)
    with pytest.raises(NotAuthorised):
        identity_sync.report(stack.cp, Actor("plain", Role.MEMBER, member_id="mem_0000000000000000"))
    with pytest.raises(NotAuthorised):  # a team admin sees their team only, not the organisation's people
        identity_sync.report(stack.cp, Actor("ta", Role.ADMIN, member_id="mem_0000000000000001", team_id="team_x"))

    url = stack.gateway.url + "/admin/identity/sync"
    owner = httpx.get(url, headers={"authorization": f"Bearer {stack.admin_token}"})
    assert owner.status_code == 200
    assert _found(owner.json()) == EXPECTED and owner.json()["in_sync"] is False
    auditor_token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "ada")[1]
    assert httpx.get(url, headers={"authorization": f"Bearer {auditor_token}"}).status_code == 200
    member_token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "plain")[1]
    refused = httpx.get(url, headers={"authorization": f"Bearer {member_token}"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert httpx.get(url).status_code == 401
