"""``vaultgate identity scim-token create|list|revoke``: the secret shown once, audited, and a revoked
token refused at /scim/v2 from its next request on."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Stack
from tests.support.cli import run_for
from vaultgate.keys import tokens
from vaultgate.services import scim_tokens
from vaultgate.services.context import Actor, Role
from vaultgate.services.errors import NotAuthorised
from vaultgate.store.models import AuditEvent, ScimToken


def test_create_list_revoke(stack: Stack) -> None:
    created = run_for(stack.settings, "identity", "scim-token", "create", "--name", "entra-id", "--json")
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    token = made["token"]
    parsed = tokens.parse(token)
    assert parsed is not None and parsed.kind is tokens.TokenKind.SCIM_TOKEN
    with stack.cp.store.session() as session:
        stored = session.scalars(select(ScimToken)).one()
        assert token not in repr([(c, getattr(stored, c)) for c in [col.key for col in ScimToken.__table__.columns]])
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action.like("identity.scim_token.%"))).all()
        assert token not in repr([a.details for a in audit])

    listed = run_for(stack.settings, "identity", "scim-token", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["name"], row["revoked_at"]) == (made["id"], "entra-id", None)
    assert "token" not in row and token not in listed.stdout

    url = stack.gateway.url + "/scim/v2/Users"
    assert httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=30).status_code == 200
    revoked = run_for(stack.settings, "identity", "scim-token", "revoke", made["id"])
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=30).status_code == 401
    again = run_for(stack.settings, "identity", "scim-token", "revoke", made["id"])
    assert again.returncode == 1
    with stack.cp.store.session() as session:
        actions = [
            a.action for a in session.scalars(select(AuditEvent).where(AuditEvent.action.like("identity.scim%")))
        ]
    assert actions == ["identity.scim_token.create", "identity.scim_token.revoke", "identity.scim_token.revoke"]


def test_only_owners_create_or_revoke(stack: Stack) -> None:
    admin = Actor(name="ann", role=Role.ADMIN, member_id="mem_0000000000000000")
    with pytest.raises(NotAuthorised):
        scim_tokens.create(stack.cp, admin, "x")
    with stack.cp.store.session() as session:
        assert session.scalars(select(ScimToken)).all() == []
