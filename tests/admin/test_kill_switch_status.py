"""Kill switches are idempotent (asking for the state they are in is a 200 that changes and audits
nothing) and lockdown has a status: on or off, who set it and when, read from the audit trail."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from tests.conftest import Stack

from vaultgate.services import admin_tokens, members, org, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent


def client(stack: Stack, name: str | None = None) -> httpx.Client:
    token = stack.admin_token if name is None else admin_tokens.create(stack.cp, LOCAL_OPERATOR, name)[1]
    return httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token}"})


def count(stack: Stack, action: str) -> int:
    with stack.cp.store.session() as session:
        query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(session.scalar(query.where(AuditEvent.outcome == "ok")) or 0)


def test_lockdown_twice_is_one_change_and_the_status_says_who_and_when(stack: Stack) -> None:
    owner = client(stack)
    me = owner.get("/admin/me").json()["member_id"]
    before = owner.get("/admin/lockdown").json()
    assert before == {
        "on": False,
        "lockdown": False,
        "changed": False,
        "set_by": None,
        "set_by_name": None,
        "set_at": None,
    }

    first = owner.put("/admin/lockdown", json={"on": True})
    second = owner.put("/admin/lockdown", json={"on": True})
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert (first.json()["changed"], second.json()["changed"]) == (True, False)
    assert second.json()["lockdown"] is True and count(stack, "org.lockdown") == 1

    status = owner.get("/admin/lockdown").json()
    assert (status["on"], status["set_by"], status["set_by_name"]) == (True, me, "admin")
    assert status["set_at"] == first.json()["set_at"] is not None
    members.add(stack.cp, LOCAL_OPERATOR, "audrey", role="auditor")
    assert client(stack, "audrey").get("/admin/lockdown").json()["on"] is True  # auditors read it

    # Turned off from the CLI side: the status names the local operator.
    assert org.set_lockdown(stack.cp, LOCAL_OPERATOR, False).changed is True
    assert org.set_lockdown(stack.cp, LOCAL_OPERATOR, False).changed is False
    off = owner.get("/admin/lockdown").json()
    assert (off["on"], off["set_by"], off["set_by_name"]) == (False, "cli", None)
    assert count(stack, "org.lockdown") == 2


def test_member_and_team_switches_are_idempotent(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "lab")
    members.add(stack.cp, LOCAL_OPERATOR, "kit", team="lab")
    owner = client(stack)
    for path, field, on_value in (
        ("/admin/members/kit", "status", "suspended"),
        ("/admin/teams/lab", "suspended", True),
    ):
        answers = [owner.post(f"{path}/suspend") for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200], answers[1].text
        assert [a.json()[field] for a in answers] == [on_value, on_value]
        answers = [owner.post(f"{path}/resume") for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200], answers[1].text
    for action in ("member.suspend", "member.resume", "team.suspend", "team.resume"):
        assert count(stack, action) == 1, action


def test_a_no_op_still_needs_the_role(stack: Stack) -> None:
    members.add(stack.cp, LOCAL_OPERATOR, "kit")
    members.add(stack.cp, LOCAL_OPERATOR, "audrey", role="auditor")
    auditor, member = client(stack, "audrey"), client(stack, "kit")
    assert auditor.put("/admin/lockdown", json={"on": False}).status_code == 403  # already off: still refused
    assert auditor.post("/admin/members/kit/resume").status_code == 403
    assert member.get("/admin/lockdown").status_code == 403
