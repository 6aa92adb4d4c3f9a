"""Role scopes on a real ``vaultgate serve``: a team admin (and a member) sees its own team's rows only.

Found: a team admin's ``GET /admin/usage`` returned the usage rows of members of other teams
(docs/ACCESS.md: "usage: team"), with traffic sent through the gateway by the official SDK so the
usage rows are the real ones. (Every listing, for every role, is checked in
``tests/admin/test_roles_routes.py``; only what failed before the fix is repeated here.)
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.attacks.conftest import RecordingUpstream, Served


class Org:
    """Two teams, each with a member who has sent a request, a team admin, and tokens for both."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.red, self.blue = served.team(), served.team()
        self.alice = served.member(team=self.red)
        self.bob = served.member(team=self.blue)
        self.rita = served.member(team=self.red, role="admin")
        for name in (self.alice, self.bob):
            client = openai.OpenAI(base_url=served.base_url, api_key=served.key(name), max_retries=0)
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
        self.tokens = {name: served.admin_token(name) for name in (self.alice, self.bob, self.rita)}
        self.owner = served.admin_token("admin")
        self._wait_for_usage()

    def get(self, token: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.served.url + path, headers={"Authorization": f"Bearer {token}"}, **kw)

    def _wait_for_usage(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen = {row["member"] for row in self.get(self.owner, "/admin/usage").json()}
            if {self.alice, self.bob} <= seen:
                return
            time.sleep(0.1)
        raise AssertionError("the usage rows were not written")


@pytest.fixture(scope="module")
def org(served: Served) -> Org:
    return Org(served)


def test_a_team_admin_sees_only_their_teams_usage(org: Org, upstream: RecordingUpstream) -> None:
    rows = org.get(org.tokens[org.rita], "/admin/usage").json()
    members = {row["member"] for row in rows}
    assert org.alice in members
    assert org.bob not in members, "a team admin saw the usage of another team's member"


def test_a_team_admin_does_not_read_the_organisations_audit_log(org: Org, upstream: RecordingUpstream) -> None:
    response = org.get(org.tokens[org.rita], "/admin/audit/verify")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_another_team_is_not_an_oracle_for_a_team_admin(org: Org, upstream: RecordingUpstream) -> None:
    """Another team's policy answers exactly like a team that does not exist."""
    headers = {"Authorization": f"Bearer {org.tokens[org.rita]}"}
    other = httpx.put(f"{org.served.url}/admin/teams/{org.blue}/policy", json={"max_key_age_days": 30}, headers=headers)
    missing = httpx.put(
        f"{org.served.url}/admin/teams/no-such-team/policy", json={"max_key_age_days": 30}, headers=headers
    )
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"


def test_repeated_authorization_headers_are_refused_on_admin(org: Org, upstream: RecordingUpstream) -> None:
    """A team admin's token plus an owner's: refused, never one of them picked."""
    headers = [("Authorization", f"Bearer {org.tokens[org.rita]}"), ("Authorization", f"Bearer {org.owner}")]
    response = httpx.get(org.served.url + "/admin/usage", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "exactly one Authorization header" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in": "99999999999d"},
        {"expires_in": "9" * 5000 + "d"},
        {"not_before": "0001-01-01T00:00:00+05:00"},
        {"expires_in": "9999-12-31T23:59:59-05:00"},
    ],
)
def test_huge_durations_are_a_400_not_a_plain_text_500(org: Org, upstream: RecordingUpstream, body: dict) -> None:
    response = httpx.post(
        org.served.url + "/admin/keys",
        json={"member": org.alice, **body},
        headers={"Authorization": f"Bearer {org.owner}"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_input"
