"""``GET /admin/audit`` (the SIEM export's filters) and ``GET /admin/audit/verify`` over real HTTP, by role."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from tests.conftest import Stack
from vaultgate.services import admin_tokens, members
from vaultgate.services.context import LOCAL_OPERATOR


def client(stack: Stack, token: str) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token}"})


def test_export_filters_roles_and_verify_over_http(stack: Stack) -> None:
    owner = client(stack, stack.admin_token)
    stack.member("alice")
    stack.member("bob")
    members.add(stack.cp, LOCAL_OPERATOR, "audrey", role="auditor")
    _, auditor_token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "audrey")
    _, member_token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "alice")

    every = owner.get("/admin/audit")
    assert every.status_code == 200, every.text
    rows = every.json()
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert {r["alg"] for r in rows} == {"hmac-sha256"}
    creates = owner.get("/admin/audit", params={"action": ["member.create"], "actor": "cli"}).json()
    assert [r["action"] for r in creates] == ["member.create"] * 3
    page = owner.get("/admin/audit", params={"after": 2, "limit": 2}).json()
    assert [r["seq"] for r in page] == [3, 4]
    window = owner.get("/admin/audit", params={"since": rows[1]["at"], "until": rows[3]["at"]}).json()
    assert [r["seq"] for r in window] == [2, 3]

    reversed_ = owner.get("/admin/audit", params={"since": "2026-05-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"})
    assert reversed_.status_code == 400
    assert "the time range is reversed or empty" in reversed_.json()["error"]["message"]

    assert client(stack, auditor_token).get("/admin/audit").status_code == 200
    assert client(stack, member_token).get("/admin/audit").status_code == 403

    intact = owner.get("/admin/audit/verify").json()
    assert intact["ok"] is True and intact["break"] is None and intact["records"] == len(rows)  # reads are not audited
    with stack.cp.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET outcome = 'refused' WHERE seq = 2"))
    broken = owner.get("/admin/audit/verify").json()
    assert broken["ok"] is False
    assert broken["break"] == {"seq": 2, "reason": "record content does not match its keyed hash (MAC)"}
