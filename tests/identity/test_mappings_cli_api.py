"""Group mappings from the CLI and the admin API, and the OIDC client secret from the CLI: owners and admins
map groups to teams and roles (never to owner); members and auditors may not change them."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from tests.identity.conftest import SsoStack
from tests.support.cli import run_for
from vaultgate.services import admin_tokens, identity_signin, members, teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent


def test_mappings_from_the_cli(sso: SsoStack) -> None:
    s = sso.settings
    teams.create(sso.cp, LOCAL_OPERATOR, "platform")
    assert run_for(s, "identity", "map", "set", "eng", "--team", "platform", "--role", "admin").returncode == 0
    assert run_for(s, "identity", "map", "set", "/org/readers", "--role", "auditor").returncode == 0
    owner = run_for(s, "identity", "map", "set", "bosses", "--role", "owner")
    assert owner.returncode == 2 and "owners are made by hand" in owner.stderr
    unknown = run_for(s, "identity", "map", "set", "ops", "--team", "nope", "--role", "member")
    assert unknown.returncode == 1 and "no team named 'nope'" in unknown.stderr
    listed = json.loads(run_for(s, "identity", "map", "list", "--json").stdout)
    assert [(m["group"], m["team"], m["role"]) for m in listed] == [
        ("/org/readers", None, "auditor"),
        ("eng", "platform", "admin"),
    ]
    assert run_for(s, "identity", "map", "remove", "eng").returncode == 0
    assert run_for(s, "identity", "map", "remove", "eng").returncode == 1
    assert [m["group"] for m in json.loads(run_for(s, "identity", "map", "list", "--json").stdout)] == ["/org/readers"]


def test_the_client_secret_is_sealed_from_stdin_and_cleared(sso: SsoStack) -> None:
    s = sso.settings
    secret = "a-new-client-secret-0123456789"
    done = run_for(s, "identity", "oidc-secret", stdin=secret + "\n")
    assert done.returncode == 0 and secret not in done.stdout + done.stderr
    assert identity_signin.client_secret(sso.cp) == secret
    empty = run_for(s, "identity", "oidc-secret", stdin="\n")
    assert empty.returncode == 2 and "no client secret on standard input" in empty.stderr
    assert run_for(s, "identity", "oidc-secret", "--clear").returncode == 0
    assert identity_signin.client_secret(sso.cp) is None
    with sso.cp.store.session() as session:
        records = session.scalars(select(AuditEvent).where(AuditEvent.action == "identity.oidc_secret")).all()
        assert [r.details["change"] for r in records][-2:] == ["set", "cleared"]
        assert secret not in str([r.details for r in records])


def test_mappings_on_the_admin_api(sso: SsoStack) -> None:
    teams.create(sso.cp, LOCAL_OPERATOR, "platform")
    members.add(sso.cp, LOCAL_OPERATOR, "mia", role="member")
    members.add(sso.cp, LOCAL_OPERATOR, "aud", role="auditor")
    _, member_token = admin_tokens.create(sso.cp, LOCAL_OPERATOR, "mia")
    _, auditor_token = admin_tokens.create(sso.cp, LOCAL_OPERATOR, "aud")
    owner = {"authorization": f"Bearer {sso.admin_token}"}
    with httpx.Client(base_url=sso.url + "/admin/identity") as api:
        put = api.put("/mappings/eng", json={"team": "platform", "role": "admin"}, headers=owner)
        assert put.status_code == 200 and put.json()["team"] == "platform" and put.json()["role"] == "admin"
        keycloak = api.put("/mappings/%2Fengineering%2Fbackend", json={"role": "member"}, headers=owner)
        assert keycloak.status_code == 200 and keycloak.json()["group"] == "/engineering/backend"
        refused = api.put("/mappings/bosses", json={"role": "owner"}, headers=owner)
        assert refused.status_code == 400 and "owners are made by hand" in refused.json()["error"]["message"]
        extra = api.put("/mappings/x", json={"role": "member", "admin": True}, headers=owner)
        assert extra.status_code == 400
        listed = api.get("/mappings", headers=owner).json()
        assert [m["group"] for m in listed] == ["/engineering/backend", "eng"]
        for token in (member_token, auditor_token):
            who = {"authorization": f"Bearer {token}"}
            answer = api.put("/mappings/eng", json={"role": "member"}, headers=who)
            assert answer.status_code == 403 and answer.json()["error"]["code"] == "permission_denied"
            assert api.delete("/mappings/eng", headers=who).status_code == 403
        member_read = api.get("/mappings", headers={"authorization": f"Bearer {member_token}"})
        assert member_read.status_code == 403
        assert api.delete("/mappings/eng", headers=owner).status_code == 204
        missing = api.delete("/mappings/eng", headers=owner)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert [m["group"] for m in api.get("/mappings", headers=owner).json()] == ["/engineering/backend"]
