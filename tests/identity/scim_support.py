"""Helpers for the SCIM tests: a SCIM token, a scim2-client on the running gateway, row dumps."""

from __future__ import annotations

from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from sqlalchemy import select

from tests.conftest import Stack
from vaultgate.services import scim_tokens
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import (
    AdminToken,
    AuditEvent,
    IdentityGroup,
    IdentityGroupMember,
    IdentityUser,
    Member,
    MemberKey,
)

SCIM_JSON = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def scim_token(stack: Stack, name: str = "tests") -> str:
    return scim_tokens.create(stack.cp, LOCAL_OPERATOR, name)[1]


def http(stack: Stack, token: str) -> httpx2.Client:
    """A plain HTTP client on /scim/v2 with the token (for the requests a SCIM client would never send)."""
    return httpx2.Client(
        base_url=stack.gateway.url + "/scim/v2", headers={"authorization": f"Bearer {token}"}, timeout=30
    )


def client(stack: Stack, token: str) -> SyncSCIMClient:
    """scim2-client on the running gateway, its models discovered from the service."""
    scim = SyncSCIMClient(http(stack, token))
    scim.discover()
    return scim


def rows(stack: Stack) -> dict[str, list[tuple[Any, ...]]]:
    """Every row a SCIM request could change (to compare before and after a refusal)."""
    tables: dict[str, Any] = {
        "members": Member,
        "identity_users": IdentityUser,
        "identity_groups": IdentityGroup,
        "identity_group_members": IdentityGroupMember,
        "member_keys": MemberKey,
        "admin_tokens": AdminToken,
    }
    found: dict[str, list[tuple[Any, ...]]] = {}
    with stack.cp.store.session() as session:
        for name, model in tables.items():
            columns = [c.key for c in model.__table__.columns]
            found[name] = sorted(
                (tuple(str(getattr(r, c)) for c in columns) for r in session.scalars(select(model))), key=str
            )
        found["audit_ok"] = [
            (r.action, r.target)
            for r in session.scalars(select(AuditEvent).where(AuditEvent.outcome == "ok").order_by(AuditEvent.seq))
        ]
    return found


def assert_scim_error(response: httpx2.Response, status: int, scim_type: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(SCIM_JSON)
    body: dict[str, Any] = response.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type, body
    assert body["detail"]
    return body
