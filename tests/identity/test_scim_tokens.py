"""``vaultgate identity scim-token create|list|revoke``: the secret shown once, audited, and a revoked
token refused at /scim/v2 from its next request on."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Stack
from tests.identity.scim_support import scim_token
from tests.support.cli import run_for
from vaultgate.keys import tokens
from vaultgate.services import scim_tokens
from vaultgate.services.context import LOCAL_OPERATOR, Actor, Role
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


def test_refused_scim_credentials_are_counted_as_authentication_failures(stack: Stack) -> None:
    """A wrong bearer on /scim/v2 joins the security events (``auth.failures``), named by display form, never
    the token; a good token is not counted."""
    good = scim_token(stack)
    info, revoked = scim_tokens.create(stack.cp, LOCAL_OPERATOR, name="old")
    scim_tokens.revoke(stack.cp, LOCAL_OPERATOR, info.id)
    stack.member("alice")
    member_key = stack.key("alice")
    base = stack.gateway.url + "/scim/v2/Users"
    for bearer in (revoked, member_key, "not-a-token"):
        assert httpx.get(base, headers={"authorization": f"Bearer {bearer}"}).status_code == 401
    assert httpx.get(base, headers={"authorization": f"Bearer {good}"}).status_code == 200
    stack.gateway.stop()  # the graceful stop flushes the counted events to the trail
    with stack.cp.store.session() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.failures")))
    found = {row.target: row.details for row in rows}
    assert set(found) == {tokens.display(revoked), tokens.display(member_key), "scim"}
    assert all(details["reasons"] == {"scim": 1} and details["source"] == "127.0.0.1" for details in found.values())
    assert revoked not in str(found) and member_key not in str(found)
