"""``/admin/routes`` and provider update/remove/default over HTTP: shapes, codes and the audit trail."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from tests.conftest import Stack

from vaultgate.store.models import AuditEvent


def admin(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {stack.admin_token}"})


def test_routes_and_provider_management_over_the_admin_api(stack: Stack) -> None:
    api = admin(stack)
    created = api.post(
        "/admin/providers",
        json={"name": "b", "kind": "compatible", "base_url": "https://b.example.com/v1", "api_key": "sk-b"},
    )
    assert created.status_code == 201, created.text
    route = {
        "name": "fast",
        "strategy": "weighted",
        "targets": [{"provider": "b", "model": "gpt-4o-mini", "weight": 5}],
    }
    resp = api.post("/admin/routes", json=route)
    assert resp.status_code == 201, resp.text
    assert resp.json()["targets"] == [{"provider": "b", "model": "gpt-4o-mini", "weight": 5, "deployment_type": None}]
    assert api.post("/admin/routes", json=route).json()["error"]["code"] == "conflict"
    assert [r["name"] for r in api.get("/admin/routes").json()] == ["fast"]
    assert api.get("/admin/routes/fast").json()["strategy"] == "weighted"

    bad = api.post("/admin/routes", json={"name": "x", "targets": [{"provider": "nope"}]})
    assert bad.status_code == 400 and "targets[0]" in bad.json()["error"]["message"]
    bad = api.post("/admin/routes", json={"name": "x", "targets": [{"provider": "b", "weight": 0}]})
    assert bad.status_code == 400 and "weight" in bad.json()["error"]["message"]

    in_use = api.delete("/admin/providers/b")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "provider_in_use" and "fast" in in_use.json()["error"]["message"]

    patched = api.patch("/admin/providers/b", json={"geography": "eu", "deployment_type": "datazone"})
    assert patched.status_code == 200 and (patched.json()["geography"], patched.json()["deployment_type"]) == (
        "eu",
        "datazone",
    )
    insecure = api.patch("/admin/providers/b", json={"base_url": "http://b.example.com/v1"})
    assert insecure.status_code == 400 and insecure.json()["error"]["code"] == "invalid_input"

    default = api.delete("/admin/providers/capture")
    assert default.status_code == 409 and "default" in default.json()["error"]["message"]
    assert api.post("/admin/providers/b/default").json()["is_default"] is True
    assert api.delete("/admin/routes/fast").status_code == 200
    assert api.get("/admin/routes/fast").status_code == 404
    assert api.delete("/admin/providers/capture").status_code == 200
    assert [p["name"] for p in api.get("/admin/providers").json()] == ["b"]

    with stack.cp.store.session() as session:
        actions = [(e.action, e.outcome) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    for expected in [
        ("route.create", "ok"),
        ("route.create", "refused"),
        ("provider.remove", "refused"),
        ("provider.update", "ok"),
        ("provider.update", "refused"),
        ("provider.default", "ok"),
        ("route.remove", "ok"),
        ("provider.remove", "ok"),
    ]:
        assert expected in actions


def test_residency_is_a_policy_field_of_teams_the_organisation_and_keys(stack: Stack) -> None:
    api = admin(stack)
    assert api.post("/admin/teams", json={"name": "research"}).status_code == 201
    team = api.put("/admin/teams/research/policy", json={"residency": ["EU"]})
    assert team.status_code == 200 and team.json()["policy"]["residency"] == ["eu"], team.text
    org = api.put("/admin/org/policy", json={"residency": ["eu", "us"]})
    assert org.status_code == 200 and org.json()["policy"]["residency"] == ["eu", "us"]
    bad = api.put("/admin/org/policy", json={"residency": ["Europe/West"]})
    assert bad.status_code == 400 and "geography" in bad.json()["error"]["message"]
    assert api.post("/admin/members", json={"name": "erika", "team": "research"}).status_code == 201
    key = api.post("/admin/keys", json={"member": "erika", "residency": ["eu"]})
    assert key.status_code == 201 and key.json()["effective_policy"]["residency"] == ["eu"], key.text
