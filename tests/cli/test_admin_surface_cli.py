"""The admin surface from the CLI, in-process, on SQLite and PostgreSQL: member update and remove, team
rename and delete, unknown teams refused, idempotent kill switches and lockdown status, key list with
canaries and last use. The same services as the admin API, so the same answers."""

from __future__ import annotations

import json

import httpx
import openai
from tests.conftest import Stack
from tests.support.cli import run_for

from vaultgate.services import keys, members, teams
from vaultgate.services.context import LOCAL_OPERATOR


def test_member_and_team_lifecycle_from_the_cli(stack: Stack) -> None:
    s = stack.settings
    typo = run_for(s, "member", "add", "kit", "--team", "reserch")
    assert typo.returncode == 1 and "no team named 'reserch'" in typo.stderr and "--create-team" in typo.stderr
    assert run_for(s, "member", "add", "kit", "--team", "lab", "--create-team").returncode == 0
    assert run_for(s, "team", "create", "ops").returncode == 0

    updated = run_for(s, "member", "update", "kit", "--team", "ops", "--display-name", "Kit H", "--json")
    assert updated.returncode == 0, updated.stderr
    assert (json.loads(updated.stdout)["team"], json.loads(updated.stdout)["display_name"]) == ("ops", "Kit H")
    assert run_for(s, "member", "update", "kit").returncode == 2  # nothing to change: a usage error
    assert run_for(s, "member", "update", "kit", "--email", "nope").returncode == 2
    assert run_for(s, "member", "update", "kit", "--team", "nowhere").returncode == 1

    busy = run_for(s, "team", "delete", "ops")
    assert busy.returncode == 1 and "still has 1 member" in busy.stderr
    assert run_for(s, "team", "rename", "lab", "labs").returncode == 0
    assert run_for(s, "team", "delete", "labs").returncode == 0
    assert [t.name for t in teams.list_teams(stack.cp, LOCAL_OPERATOR)] == ["ops"]

    keys.create(stack.cp, LOCAL_OPERATOR, "kit")
    assert run_for(s, "member", "remove", "kit").returncode == 1  # asks first; no answer aborts
    assert members.list_members(stack.cp, LOCAL_OPERATOR)[-1].status == "active"
    removed = run_for(s, "member", "remove", "kit", "--yes")
    assert removed.returncode == 0 and "1 key(s)" in removed.stderr
    assert run_for(s, "member", "remove", "admin", "--yes").returncode == 1  # the last owner
    assert {m.name: m.status for m in members.list_members(stack.cp, LOCAL_OPERATOR)} == {
        "admin": "active",
        "kit": "removed",
    }


def test_kill_switches_are_idempotent_and_lockdown_has_a_status(stack: Stack) -> None:
    s = stack.settings
    members.add(stack.cp, LOCAL_OPERATOR, "kit")
    assert run_for(s, "lockdown", "on").returncode == 0
    again = run_for(s, "lockdown", "on")
    assert again.returncode == 0 and "lockdown is already on" in again.stderr
    status = run_for(s, "lockdown", "status", "--json")
    assert status.returncode == 0
    found = json.loads(status.stdout)
    assert (found["lockdown"], found["set_by"], found["changed"]) == (True, "cli", False) and found["set_at"]
    assert "Lockdown is ON" in run_for(s, "lockdown", "status").stderr
    assert run_for(s, "lockdown", "off").returncode == 0
    assert "already off" in run_for(s, "lockdown", "off").stderr
    assert run_for(s, "lockdown", "maybe").returncode == 2
    for command in ("suspend", "suspend", "resume", "resume"):
        done = run_for(s, "member", command, "kit")
        assert done.returncode == 0, done.stderr
    assert "already active" in done.stderr


def test_key_list_marks_canaries_and_shows_the_last_use(stack: Stack) -> None:
    s = stack.settings
    members.add(stack.cp, LOCAL_OPERATOR, "kit")
    token = stack.key("kit")
    keys.create(stack.cp, LOCAL_OPERATOR, "kit", canary=True)
    sdk = openai.OpenAI(base_url=stack.base_url, api_key=token, max_retries=0)
    sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    used_at = stack.usage(1)[0].at

    listed = json.loads(run_for(s, "key", "list", "--json").stdout)
    assert [(k["canary"], k["last_used_at"]) for k in listed] == [(False, used_at.isoformat()), (True, None)]
    table = run_for(s, "key", "list").stdout
    assert "canary" in table and "last_used_at" in table and str(used_at)[:16] in table
    api = stack.gateway.url + "/admin/keys"
    over_api = httpx.get(api, headers={"authorization": f"Bearer {stack.admin_token}"}).json()
    assert [k["last_used_at"] is not None for k in over_api] == [True, False]
