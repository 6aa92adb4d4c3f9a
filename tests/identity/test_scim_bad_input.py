"""Bad input at /scim/v2: each refusal has its RFC 7644 status and scimType, SCIM's error shape, and
changes nothing (every row a SCIM request could touch compared before and after)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Stack
from tests.identity.scim_support import SCIM_JSON, assert_scim_error, rows, scim_token
from vaultgate.identity.scim.app import MAX_BODY_BYTES
from vaultgate.services import admin_tokens, scim_tokens
from vaultgate.services.context import LOCAL_OPERATOR

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Scim:
    """Raw HTTP on /scim/v2 (a SCIM client would refuse to send most of these)."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.http = httpx.Client(
            base_url=stack.gateway.url + "/scim/v2",
            headers={"authorization": f"Bearer {token}", "content-type": SCIM_JSON},
            timeout=30,
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.http, name)


@pytest.fixture
def scim(stack: Stack) -> Scim:
    client = Scim(stack, scim_token(stack))
    made = client.post("/Users", json={"schemas": [USER], "userName": "alice", "emails": [{"value": "a@example.com"}]})
    assert made.status_code == 201, made.text
    client.user_id = made.json()["id"]  # type: ignore[attr-defined]
    stack.key("alice")
    return client


def _unchanged(stack: Stack, before: dict[str, Any]) -> None:
    assert rows(stack) == before


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        pytest.param(
            {"schemas": [USER], "userName": "carol", "nickName": "c"}, "invalidSyntax", id="unknown-attribute"
        ),
        pytest.param({"schemas": [USER], "userName": "carol", "password": "hunter2"}, "invalidSyntax", id="password"),
        pytest.param(
            {
                "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "userName": "carol",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"},
            },
            "invalidSyntax",
            id="unknown-schema",
        ),
        pytest.param({"schemas": [USER], "userName": "bad name!"}, "invalidValue", id="invalid-userName"),
        pytest.param({"schemas": [USER], "displayName": "no userName"}, "invalidValue", id="missing-userName"),
    ],
)
def test_creation_refused(stack: Stack, scim: Scim, body: dict[str, Any], scim_type: str) -> None:
    before = rows(stack)
    detail = assert_scim_error(scim.post("/Users", json=body), 400, scim_type)["detail"]
    assert "hunter2" not in detail
    _unchanged(stack, before)


def test_conflicting_user_name_is_uniqueness_case_insensitively(stack: Stack, scim: Scim) -> None:
    stack.member("dave")  # a member made by hand, not SCIM-managed: never claimed silently
    before = rows(stack)
    assert_scim_error(scim.post("/Users", json={"schemas": [USER], "userName": "ALICE"}), 409, "uniqueness")
    assert_scim_error(scim.post("/Users", json={"schemas": [USER], "userName": "Dave"}), 409, "uniqueness")
    other = scim.post("/Users", json={"schemas": [USER], "userName": "erin"}).json()["id"]
    before = rows(stack)
    rename = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "Alice"}]}
    assert_scim_error(scim.patch(f"/Users/{other}", json=rename), 409, "uniqueness")
    _unchanged(stack, before)


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        pytest.param([{"op": "replace", "path": "nickName", "value": "x"}], "invalidPath", id="path-not-in-schema"),
        pytest.param([{"op": "replace", "path": "emails[", "value": "x"}], "invalidPath", id="malformed-path"),
        pytest.param([{"op": "replace", "path": "groups", "value": []}], "mutability", id="read-only"),
        pytest.param([{"op": "frobnicate", "path": "active", "value": False}], "invalidValue", id="unknown-op"),
        pytest.param(
            # The first operation would deactivate; the second fails: nothing is written.
            [{"op": "replace", "path": "active", "value": False}, {"op": "add", "path": "title", "value": "x"}],
            "invalidPath",
            id="half-valid",
        ),
    ],
)
def test_patch_refused(stack: Stack, scim: Scim, operations: list[dict[str, Any]], scim_type: str) -> None:
    before = rows(stack)
    answer = scim.patch(f"/Users/{scim.user_id}", json={"schemas": [PATCH], "Operations": operations})  # type: ignore[attr-defined]
    assert_scim_error(answer, 400, scim_type)
    _unchanged(stack, before)


@pytest.mark.parametrize(
    "text", ["userName eq", 'nickName eq "x"', 'userName xx "a"', 'emails[value eq "a"', "active eq maybe"]
)
def test_bad_filter_is_invalid_filter(stack: Stack, scim: Scim, text: str) -> None:
    assert_scim_error(scim.get("/Users", params={"filter": text}), 400, "invalidFilter")


def test_if_match_mismatch_is_412(stack: Stack, scim: Scim) -> None:
    before = rows(stack)
    url = f"/Users/{scim.user_id}"  # type: ignore[attr-defined]
    stale = {"if-match": 'W/"7"'}
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert_scim_error(scim.patch(url, json=deactivate, headers=stale), 412, None)
    assert_scim_error(
        scim.put(url, json={"schemas": [USER], "userName": "alice", "active": False}, headers=stale), 412, None
    )
    assert_scim_error(scim.delete(url, headers=stale), 412, None)
    _unchanged(stack, before)
    current = scim.get(url)
    assert current.headers["etag"] == 'W/"1"'
    assert scim.get(url, headers={"if-none-match": 'W/"1"'}).status_code == 304
    assert scim.patch(url, json=deactivate, headers={"if-match": 'W/"1"'}).status_code == 200


def test_unknown_user_is_404_and_changes_nothing(stack: Stack, scim: Scim) -> None:
    before = rows(stack)
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    assert_scim_error(scim.patch("/Users/scu_0000000000000000", json=deactivate), 404, None)
    assert_scim_error(scim.delete("/Users/scu_0000000000000000"), 404, None)
    assert_scim_error(scim.get("/Users/nope"), 404, None)
    assert_scim_error(scim.get("/Nope"), 404, None)
    _unchanged(stack, before)


def test_only_a_live_scim_token_is_accepted(stack: Stack, scim: Scim) -> None:
    member_key = stack.key("alice")
    _, admin_token = admin_tokens.create(stack.cp, LOCAL_OPERATOR, "alice")
    info, revoked = scim_tokens.create(stack.cp, LOCAL_OPERATOR, "old")
    scim_tokens.revoke(stack.cp, LOCAL_OPERATOR, info.id)
    before = rows(stack)
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    url = f"{stack.gateway.url}/scim/v2/Users/{scim.user_id}"  # type: ignore[attr-defined]
    for headers in (
        {"authorization": f"Bearer {member_key}"},
        {"authorization": f"Bearer {admin_token}"},
        {"authorization": f"Bearer {stack.admin_token}"},
        {"authorization": f"Bearer {revoked}"},
        {"authorization": f"Basic {revoked}"},
        {},
    ):
        answer = httpx.patch(url, json=deactivate, headers=headers, timeout=30)
        body = assert_scim_error(answer, 401, None)
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert revoked not in body["detail"] and member_key not in body["detail"]
    _unchanged(stack, before)


def test_body_not_json_or_too_large(stack: Stack, scim: Scim) -> None:
    before = rows(stack)
    assert_scim_error(scim.post("/Users", content=b"{not json"), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Users", content=b"[1, 2]"), 400, "invalidSyntax")
    big = b'{"schemas": ["' + USER.encode() + b'"], "userName": "' + b"a" * MAX_BODY_BYTES + b'"}'
    assert_scim_error(scim.post("/Users", content=big), 413, None)
    _unchanged(stack, before)


def test_entra_shaped_attribute_updates_apply(stack: Stack, scim: Scim) -> None:
    """What Entra ID sends for a changed mail or name (the counterpart of the refusals above)."""
    url = f"/Users/{scim.user_id}"  # type: ignore[attr-defined]
    operations = [
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "alice.new@example.com"},
        {"op": "Replace", "path": "displayName", "value": "Alice Liddell"},
        {"op": "Add", "path": "name.givenName", "value": "Alice"},
        {"op": "Replace", "path": "externalId", "value": "00aa-entra-object"},
    ]
    answer = scim.patch(url, json={"schemas": [PATCH], "Operations": operations})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["emails"] == [{"value": "alice.new@example.com"}]
    assert (body["displayName"], body["externalId"]) == ("Alice Liddell", "00aa-entra-object")
    assert "name" not in body
    found = scim.get("/Users", params={"filter": 'externalId eq "00aa-entra-object"'}).json()
    assert [r["id"] for r in found["Resources"]] == [scim.user_id]  # type: ignore[attr-defined]
