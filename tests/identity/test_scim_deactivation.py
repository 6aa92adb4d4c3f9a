"""Leavers over SCIM: deactivating (PATCH, in the Entra ID and Okta forms) or deleting a user suspends the
member and ends every credential on the running gateway; reactivating leaves the old keys revoked."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from tests.conftest import Stack
from tests.identity.scim_support import SCIM_JSON, client, http, scim_token
from vaultgate.services import admin_tokens
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent, Member

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _create(stack: Stack, token: str, name: str) -> str:
    scim = client(stack, token)
    user_model = scim.get_resource_model("User")
    assert user_model is not None
    created = scim.create(user_model(user_name=name, display_name="Alice Liddell", active=True))
    assert created.id
    return str(created.id)


def _refused(c: openai.OpenAI, deadline: float = 30.0) -> bool:
    """Whether the key is refused by the gateway within ``deadline`` seconds (polled; no timing asserted)."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            c.models.list()
        except openai.AuthenticationError:
            return True
        time.sleep(0.02)
    return False


def _patch(stack: Stack, token: str, user_id: str, operations: list[dict[str, Any]]) -> httpx.Response:
    return httpx.patch(
        f"{stack.gateway.url}/scim/v2/Users/{user_id}",
        json={"schemas": [PATCH_SCHEMA], "Operations": operations},
        headers={"authorization": f"Bearer {token}", "content-type": SCIM_JSON},
        timeout=30,
    )


def _status(stack: Stack, name: str) -> str:
    with stack.cp.store.session() as session:
        return str(session.scalar(select(Member.status).where(Member.name == name)))


def _deprovisions(stack: Stack) -> list[AuditEvent]:
    with stack.cp.store.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "identity.deprovision")))


@pytest.mark.parametrize(
    "operations",
    [
        pytest.param([{"op": "Replace", "path": "active", "value": "False"}], id="entra-string-boolean"),
        pytest.param([{"op": "replace", "value": {"active": False}}], id="okta-no-path"),
    ],
)
def test_deactivation_ends_every_credential_and_reactivation_keeps_them_ended(
    stack: Stack, operations: list[dict[str, Any]]
) -> None:
    token = scim_token(stack)
    user_id = _create(stack, token, "alice")
    key = stack.key("alice")
    _, admin_token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "alice")
    c = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    assert c.models.list().data
    admin = httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {admin_token}"}, timeout=30)
    assert admin.get("/admin/members").status_code == 200

    before = time.time()
    answer = _patch(stack, token, user_id, operations)
    after = time.time()
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
    assert answer.headers["etag"] == 'W/"2"'

    assert _refused(c), "the deactivated member's key was still accepted after 30 s"
    assert admin.get("/admin/members").status_code == 401
    assert _status(stack, "alice") == "suspended"
    [record] = _deprovisions(stack)
    assert record.target is not None and record.target.startswith("mem_")
    assert record.details["keys_revoked"] == 1 and record.details["admin_tokens_revoked"] == 1
    # requested_at is when the SCIM call arrived (the start of the time to revocation).
    assert before - 1 <= datetime.fromisoformat(record.details["requested_at"]).timestamp() <= after

    # Deactivating again changes nothing and is not audited again.
    assert _patch(stack, token, user_id, operations).status_code == 200
    assert len(_deprovisions(stack)) == 1

    again = _patch(stack, token, user_id, [{"op": "replace", "path": "active", "value": True}])
    assert again.status_code == 200 and again.json()["active"] is True
    assert _status(stack, "alice") == "active"
    stack.sync()
    with pytest.raises(openai.AuthenticationError):
        c.models.list()
    assert admin.get("/admin/members").status_code == 401
    fresh = openai.OpenAI(base_url=stack.base_url, api_key=stack.key("alice"), max_retries=0)
    assert fresh.models.list().data


def test_delete_suspends_the_member_and_removes_the_resource(stack: Stack) -> None:
    token = scim_token(stack)
    user_id = _create(stack, token, "bob")
    c = openai.OpenAI(base_url=stack.base_url, api_key=stack.key("bob"), max_retries=0)
    assert c.models.list().data

    with http(stack, token) as scim:
        assert scim.delete(f"/Users/{user_id}").status_code == 204
        assert scim.get(f"/Users/{user_id}").status_code == 404
        assert scim.delete(f"/Users/{user_id}").status_code == 404
    assert _refused(c), "the deleted user's key was still accepted after 30 s"
    assert _status(stack, "bob") == "suspended"  # kept for the usage and audit records that name it
    assert len(_deprovisions(stack)) == 1
