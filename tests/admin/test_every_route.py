"""Every admin route, as a plain member aimed at another member's objects: refused, and nothing of theirs shown.

The route list comes from the OpenAPI document, so a new route without a check fails here.
"""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from tests.conftest import Stack

from vaultgate.services import admin_tokens, credentials, keys, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent

# Values a route's path parameters take: always bob's (or the org's) objects, never alice's own.
BODIES = {
    "/admin/keys": {"member": "bob"},
    "/admin/keys/leaked": {"fingerprints": ["0" * 64]},
    "/admin/members": {"name": "mallory"},
    "/admin/members/{name}": {"role": "admin", "team": "blue"},
    "/admin/teams": {"name": "green"},
    "/admin/lockdown": {"on": True},
    "/admin/tokens": {"member": "bob"},
    "/admin/providers": {"name": "evil", "kind": "echo"},
    "/admin/providers/{name}/credentials": {"api_key": "sk-x"},
    "/admin/providers/{name}": {"geography": "eu"},
    "/admin/routes": {"name": "evil", "targets": [{"provider": "capture"}]},
    "/admin/objects": {"id": "file-evil", "kind": "file", "member": "bob"},
    "/admin/keys/{key_id}/rotate": {},
    "/admin/members/{name}/limits": {"rpm": 1},
    "/admin/teams/{name}/limits": {"rpm": 1},
    "/admin/teams/{name}": {"name": "renamed"},
    "/admin/teams/{name}/policy": {"models": ["x"]},
    "/admin/org/policy": {"models": ["x"]},
    "/admin/identity/mappings/{group}": {"role": "admin"},
}
# Routes a member may call on their own behalf; what they return is checked for bob's data instead.
OWN_DATA_ROUTES = {
    ("get", "/admin/me"),
    ("get", "/admin/keys"),
    ("get", "/admin/members"),
    ("get", "/admin/teams"),
    ("get", "/admin/tokens"),
    ("get", "/admin/usage"),
}


def test_a_member_gets_nothing_of_another_members_from_any_route(stack: Stack) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "blue")
    stack.member("alice")
    stack.member("bob", team="blue")
    bob_key = keys.create(stack.cp, LOCAL_OPERATOR, "bob")
    bob_token, _ = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "bob")
    cred = credentials.list_credentials(stack.cp, LOCAL_OPERATOR, "capture")[0]
    _, token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "alice")
    alice = httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token}"})
    params = {"key_id": bob_key.info.id, "name": "bob", "token_id": bob_token.id, "cred_id": cred.id}
    with stack.cp.store.session() as session:
        changes_before = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "ok"))

    spec = httpx.get(stack.gateway.url + "/admin/openapi.json").json()
    checked = 0
    for path, operations in spec["paths"].items():
        for method in operations:
            concrete = path
            for name, value in params.items():
                if path.startswith(("/admin/teams/", "/admin/providers/")) and name == "name":
                    value = "blue" if path.startswith("/admin/teams/") else "capture"
                concrete = concrete.replace("{" + name + "}", value)
            resp = alice.request(method.upper(), concrete, json=BODIES.get(path) if method != "get" else None)
            text = resp.text
            assert bob_key.info.display not in text and bob_token.display not in text, (method, path)
            if (method, path) in OWN_DATA_ROUTES:
                assert resp.status_code == 200, (method, path, resp.status_code)
                assert "bob" not in text, (method, path, text)
            else:
                assert resp.status_code in (403, 404), (method, path, resp.status_code, text)
            checked += 1
    assert checked >= 28
    with stack.cp.store.session() as session:
        changes_after = session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "ok"))
    assert changes_after == changes_before, "a refused route changed something"
