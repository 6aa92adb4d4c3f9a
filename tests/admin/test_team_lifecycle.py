"""Teams renamed and deleted, and unknown teams refused where they used to be created silently, on SQLite
and PostgreSQL, through the admin API and the services."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import Stack

from vaultgate.services import admin_tokens, keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR, Actor, Role
from vaultgate.services.errors import NotAuthorised, NotFound
from vaultgate.store.models import AuditEvent, Member, Team


def client(stack: Stack, name: str | None = None) -> httpx.Client:
    token = stack.admin_token if name is None else admin_tokens.create(stack.cp, LOCAL_OPERATOR, name)[1]
    return httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token}"})


def team_names(stack: Stack) -> list[str]:
    with stack.cp.store.session() as session:
        return list(session.scalars(select(Team.name).order_by(Team.name)))


def audited(stack: Stack, action: str) -> list[tuple[str | None, str, dict[str, object]]]:
    with stack.cp.store.session() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
        return [(e.target, e.outcome, e.details) for e in rows]


def test_a_rename_keeps_the_team_its_members_and_their_keys(stack: Stack) -> None:
    lab = teams.create(stack.cp, LOCAL_OPERATOR, "lab")
    teams.set_policy(stack.cp, LOCAL_OPERATOR, "lab", policy={"models": ["gpt-4o-mini"]})
    teams.create(stack.cp, LOCAL_OPERATOR, "ops")
    members.add(stack.cp, LOCAL_OPERATOR, "kit", team="lab")
    key = stack.key("kit", models=["gpt-4o-mini"])
    owner = client(stack)

    resp = owner.patch("/admin/teams/lab", json={"name": "research"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["id"], resp.json()["name"]) == (lab.id, "research")
    assert resp.json()["policy"]["models"] == ["gpt-4o-mini"]
    assert next(m for m in owner.get("/admin/members").json() if m["name"] == "kit")["team"] == "research"
    assert audited(stack, "team.rename") == [(lab.id, "ok", {"name": "research", "previous": "lab"})]
    stack.sync()
    assert (
        httpx.post(
            stack.base_url + "/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        ).status_code
        == 200
    )

    assert owner.patch("/admin/teams/research", json={"name": "ops"}).json()["error"]["code"] == "conflict"
    assert owner.patch("/admin/teams/research", json={"name": "bad name!"}).json()["error"]["code"] == "invalid_input"
    assert owner.patch("/admin/teams/nowhere", json={"name": "x"}).json()["error"]["code"] == "not_found"
    assert team_names(stack) == ["ops", "research"]


def test_a_team_with_members_is_not_deleted_and_the_message_counts_them(stack: Stack) -> None:
    cp = stack.cp
    lab = teams.create(cp, LOCAL_OPERATOR, "lab")
    teams.create(cp, LOCAL_OPERATOR, "ops")
    for name in ("kit", "pat", "gone"):
        members.add(cp, LOCAL_OPERATOR, name, team="lab")
    keys.create(cp, LOCAL_OPERATOR, "gone")
    members.remove(cp, LOCAL_OPERATOR, "gone")
    owner = client(stack)

    refused = owner.delete("/admin/teams/lab")
    assert refused.status_code == 409
    assert "still has 2 members" in refused.json()["error"]["message"]  # the removed member does not count
    assert team_names(stack) == ["lab", "ops"]

    members.update(cp, LOCAL_OPERATOR, "kit", team="ops")
    assert "still has 1 member;" in owner.delete("/admin/teams/lab").json()["error"]["message"]
    members.update(cp, LOCAL_OPERATOR, "pat", team="ops")
    deleted = owner.delete("/admin/teams/lab")
    assert deleted.status_code == 200, deleted.text
    assert team_names(stack) == ["ops"]
    with cp.store.session() as session:
        assert session.scalar(select(Member.team_id).where(Member.name == "gone")) is None  # detached, kept
    typed = cp.audit_ref("lab")  # a refusal names what was typed by its keyed reference
    expected = [(typed, "refused"), (typed, "refused"), (lab.id, "ok")]
    assert [(t, o) for t, o, _ in audited(stack, "team.delete")] == expected
    assert owner.delete("/admin/teams/lab").status_code == 404


def test_only_organisation_managers_rename_or_delete_teams(stack: Stack) -> None:
    cp = stack.cp
    for team in ("lab", "ops", "empty"):
        teams.create(cp, LOCAL_OPERATOR, team)
    members.add(cp, LOCAL_OPERATOR, "lead", team="lab", role="admin")
    members.add(cp, LOCAL_OPERATOR, "kit", team="lab")
    members.add(cp, LOCAL_OPERATOR, "audrey", role="auditor")
    for name in ("lead", "kit", "audrey"):
        actor = client(stack, name)
        for team in ("lab", "ops", "empty"):
            assert actor.patch(f"/admin/teams/{team}", json={"name": f"{team}2"}).status_code == 403, (name, team)
            assert actor.delete(f"/admin/teams/{team}").status_code == 403, (name, team)
    assert team_names(stack) == ["empty", "lab", "ops"]
    members.add(cp, LOCAL_OPERATOR, "boss", role="admin")
    assert client(stack, "boss").delete("/admin/teams/empty").status_code == 200


def test_an_unknown_team_is_refused_unless_asked_for(stack: Stack) -> None:
    cp = stack.cp
    owner = client(stack)
    typo = owner.post("/admin/members", json={"name": "kit", "team": "reserch"})
    assert typo.status_code == 404
    message = typo.json()["error"]["message"]
    assert "no team named 'reserch'" in message and "--create-team" in message and "team create" in message
    assert team_names(stack) == [] and "kit" not in [m["name"] for m in owner.get("/admin/members").json()]

    with pytest.raises(NotFound):
        members.add(cp, LOCAL_OPERATOR, "kit", team="reserch")
    created = owner.post("/admin/members", json={"name": "kit", "team": "research", "create_team": True})
    assert created.status_code == 201 and created.json()["team"] == "research"
    assert team_names(stack) == ["research"]

    # Creating a team stays an organisation manager's: a team admin asking for one is refused, and learns
    # nothing about which teams exist (the same 403 for an existing other team).
    members.add(cp, LOCAL_OPERATOR, "lead", team="research", role="admin")
    lead = client(stack, "lead")
    for body in ({"name": "x1", "team": "new", "create_team": True}, {"name": "x2", "team": "new"}):
        assert lead.post("/admin/members", json=body).status_code == 403
    teams.create(cp, LOCAL_OPERATOR, "ops")
    assert lead.post("/admin/members", json={"name": "x3", "team": "ops"}).status_code == 403
    with pytest.raises(NotAuthorised):
        members.add(cp, members_actor(stack, "lead"), "x4", team="new", create_team=True)
    assert team_names(stack) == ["ops", "research"]
    with cp.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Member).where(Member.name.like("x%"))) == 0


def members_actor(stack: Stack, name: str) -> Actor:
    with stack.cp.store.session() as session:
        m = session.scalar(select(Member).where(Member.name == name))
        assert m is not None
        return Actor(name=m.name, role=Role(m.role), member_id=m.id, team_id=m.team_id)
