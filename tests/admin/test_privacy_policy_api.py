"""Privacy policies set through the admin API, on a key and as a team's default."""

from __future__ import annotations

import httpx
import openai
import pytest
from tests.conftest import Stack


def test_key_and_team_privacy_policies(stack: Stack) -> None:
    admin = httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {stack.admin_token}"})
    assert admin.post("/admin/teams", json={"name": "legal"}).status_code == 201
    team = admin.put("/admin/teams/legal/policy", json={"privacy": {"pii": {"email": "block"}}})
    assert team.status_code == 200, team.text
    assert admin.post("/admin/members", json={"name": "alice", "team": "legal"}).status_code == 201
    bad = admin.post("/admin/keys", json={"member": "alice", "privacy": {"pii": {"email": "shred"}}})
    assert bad.status_code == 400
    team_default = admin.post("/admin/keys", json={"member": "alice"}).json()["key"]
    # A key cannot loosen its team (the strictest value wins); the key's info says what is narrowed.
    looser = admin.post("/admin/keys", json={"member": "alice", "privacy": {"pii": {"email": "redact"}}}).json()
    assert "privacy.pii.email" in looser["narrowed"]
    stack.sync()
    message = [{"role": "user", "content": "write to jane.doe@example.com"}]
    for key in (team_default, looser["key"]):
        with pytest.raises(openai.BadRequestError) as err:
            openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0).chat.completions.create(
                model="gpt-4o", messages=message
            )
        assert err.value.code == "pii_blocked" and "jane" not in err.value.message
    # A key can tighten it: the team now lets addresses through, this key still redacts them.
    assert admin.put("/admin/teams/legal/policy", json={"privacy": {"pii": {"email": "allow"}}}).status_code == 200
    own = admin.post("/admin/keys", json={"member": "alice", "privacy": {"pii": {"email": "redact"}}}).json()["key"]
    stack.sync()
    reply = openai.OpenAI(base_url=stack.base_url, api_key=own, max_retries=0).chat.completions.create(
        model="gpt-4o", messages=message
    )
    assert reply.choices[0].message.content == "upstream says: write to jane.doe@example.com"
    assert "jane.doe@example.com" not in stack.upstream.last.body.decode()
