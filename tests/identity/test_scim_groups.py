"""SCIM Groups: membership sets team and role through the group mappings (displayName or externalId),
over scim2-client; a placement a live key exceeds is refused (409) and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
from scim2_models import PatchOp
from sqlalchemy import select

from tests.conftest import Stack
from tests.identity.scim_support import SCIM_JSON, assert_scim_error, client, rows, scim_token
from vaultgate.services import identity, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import Member, Team

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _placement(stack: Stack, name: str) -> tuple[str | None, str]:
    with stack.cp.store.session() as session:
        member = session.scalar(select(Member).where(Member.name == name))
        assert member is not None
        team = session.get(Team, member.team_id) if member.team_id else None
        return (team.name if team else None), member.role


def test_group_membership_places_members_by_the_mappings(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "research")
    identity.set_mapping(stack.cp, LOCAL_OPERATOR, "Research Admins", "research", "admin")
    identity.set_mapping(stack.cp, LOCAL_OPERATOR, "entra-group-42", "research", "auditor")
    scim = client(stack, scim_token(stack))
    user_model, group_model = scim.get_resource_model("User"), scim.get_resource_model("Group")
    assert user_model is not None and group_model is not None
    alice = scim.create(user_model(user_name="alice", active=True))
    bob = scim.create(user_model(user_name="bob", active=True))
    assert _placement(stack, "alice") == (None, "member")

    admins = scim.create(group_model(display_name="Research Admins"))
    scim.modify(
        group_model,
        admins.id,
        PatchOp[group_model](operations=[{"op": "add", "path": "members", "value": [{"value": alice.id}]}]),  # type: ignore[valid-type]
    )
    assert _placement(stack, "alice") == ("research", "admin")
    assert _placement(stack, "bob") == (None, "member")
    fetched = scim.query(user_model, alice.id)
    assert [g.value for g in fetched.groups] == [admins.id]

    # By externalId (Entra ID's object id), in an Entra-shaped raw request.
    by_id = scim.create(group_model(display_name="Auditors", external_id="entra-group-42"))
    http = httpx.Client(
        base_url=stack.gateway.url + "/scim/v2",
        headers={"authorization": scim.client.headers["authorization"], "content-type": SCIM_JSON},
        timeout=30,
    )
    ops: list[dict[str, Any]] = [{"op": "Add", "path": "members", "value": [{"value": bob.id}]}]
    assert http.patch(f"/Groups/{by_id.id}", json={"schemas": [PATCH], "Operations": ops}).status_code == 200
    assert _placement(stack, "bob") == ("research", "auditor")

    # Removal by value filter: no mapping matches any more, so team and role stay as they were.
    remove = [{"op": "Remove", "path": f'members[value eq "{alice.id}"]'}]
    answer = http.patch(f"/Groups/{admins.id}", json={"schemas": [PATCH], "Operations": remove})
    assert answer.status_code == 200, answer.text
    assert "members" not in answer.json()
    assert _placement(stack, "alice") == ("research", "admin")

    # Filters and conflicts on groups.
    found = http.get("/Groups", params={"filter": 'displayName eq "research admins"'}).json()
    assert [r["id"] for r in found["Resources"]] == [admins.id]
    before = rows(stack)
    taken = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "AUDITORS"}
    assert_scim_error(http.post("/Groups", json=taken), 409, "uniqueness")
    nested = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "nested",
        "members": [{"value": admins.id, "type": "Group"}],
    }
    assert_scim_error(http.post("/Groups", json=nested), 400, "invalidValue")
    assert rows(stack) == before


def test_a_placement_a_live_key_exceeds_is_refused(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "locked")
    teams.set_policy(stack.cp, LOCAL_OPERATOR, "locked", policy={"models": ["gpt-4o-mini"]})
    identity.set_mapping(stack.cp, LOCAL_OPERATOR, "Locked", "locked", "member")
    scim = client(stack, scim_token(stack))
    user_model, group_model = scim.get_resource_model("User"), scim.get_resource_model("Group")
    assert user_model is not None and group_model is not None
    carol = scim.create(user_model(user_name="carol", active=True))
    stack.key("carol", models=["gpt-4o"])  # a model outside the team's ceiling
    before = rows(stack)
    http = httpx.Client(
        base_url=stack.gateway.url + "/scim/v2",
        headers={"authorization": scim.client.headers["authorization"], "content-type": SCIM_JSON},
        timeout=30,
    )
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Locked",
        "members": [{"value": carol.id}],
    }
    assert_scim_error(http.post("/Groups", json=body), 409, None)
    assert rows(stack) == before  # the group was not created either
    assert http.get("/Groups").json()["totalResults"] == 0
