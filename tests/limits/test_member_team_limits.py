"""Member and team limits, set through the CLI's service layer and the admin API, are shared by all their keys."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import Stack
from vaultgate.services import members, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.services.errors import InvalidInput

CHAT = [{"role": "user", "content": "hi"}]


def call(stack: Stack, key: str) -> None:
    openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=CHAT
    )


def test_member_rpm_is_shared_by_all_their_keys(stack: Stack) -> None:
    stack.member("alice")
    members.set_limits(stack.cp, LOCAL_OPERATOR, "alice", {"rpm": 2})
    first, second = stack.key("alice"), stack.key("alice")
    call(stack, first)
    call(stack, second)
    with pytest.raises(openai.RateLimitError) as err:
        call(stack, first)
    assert err.value.code == "rate_limit_exceeded"


def test_team_limits_through_the_admin_api(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "ops")
    stack.member("alice", team="ops")
    stack.member("bob", team="ops")
    admin = httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {stack.admin_token}"})
    resp = admin.put("/admin/teams/ops/limits", json={"rpm": 1})
    assert resp.status_code == 200 and resp.json()["limits"]["rpm"] == 1
    assert admin.put("/admin/teams/ops/limits", json={"rpm": -5}).status_code == 400
    assert admin.put("/admin/members/alice/limits", json={"budget_period": "year"}).status_code == 400
    alice, bob = stack.key("alice"), stack.key("bob")
    call(stack, alice)
    with pytest.raises(openai.RateLimitError):
        call(stack, bob)


def test_bad_limits_are_refused_and_nothing_is_stored(stack: Stack) -> None:
    stack.member("alice")
    with pytest.raises(InvalidInput):
        members.set_limits(stack.cp, LOCAL_OPERATOR, "alice", {"rpm": "lots"})
    assert members.list_members(stack.cp, LOCAL_OPERATOR)[1].name == "alice"
    with stack.cp.store.session() as session:
        assert members.find(session, "alice").limits == {}
