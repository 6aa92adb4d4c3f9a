"""Every route of the admin OpenAPI document, asked wrongly (a method it does not take, a body that is not
JSON, a body that is not declared JSON, a path beside it that does not exist), answers in the one error
shape with a code docs/ERRORS.md lists for that status. The codes are read from the docs' table, so a new
code without a row there fails here."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi.routing import APIRoute
from tests.conftest import Stack

from vaultgate.admin import (
    routes_compliance,
    routes_identity,
    routes_keys,
    routes_objects,
    routes_org,
    routes_providers,
    routes_routing,
    routes_usage,
)

ROUTE_MODULES = (
    routes_compliance,
    routes_identity,
    routes_keys,
    routes_objects,
    routes_org,
    routes_providers,
    routes_routing,
    routes_usage,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ERRORS.md"
SHAPE = {"message", "type", "param", "code"}
METHODS = ("get", "post", "put", "patch", "delete")
_ROW = re.compile(r"^\| (\d{3}) \| `([a-z0-9_]+)` \|")


def documented_codes() -> dict[str, set[int]]:
    """code -> statuses, from the table of the docs' "Admin API" section."""
    text = DOCS.read_text()
    section = text[text.index("## Admin API") :]
    section = section[: section.index("\n## ", 4)]
    codes: dict[str, set[int]] = {}
    for line in section.splitlines():
        found = _ROW.match(line)
        if found:
            codes.setdefault(found.group(2), set()).add(int(found.group(1)))
    return codes


def check(resp: httpx.Response, status: int, code: str, codes: dict[str, set[int]], what: str) -> dict[str, object]:
    assert resp.status_code == status, (what, resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json"), what
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == SHAPE, (what, body)
    error = body["error"]
    assert error["code"] == code, (what, error)
    assert resp.status_code in codes.get(code, set()), f"{what}: {status} {code} is not in docs/ERRORS.md"
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str), what
    return error


def test_the_docs_table_lists_the_codes_the_admin_api_uses() -> None:
    codes = documented_codes()
    for code in ("invalid_json", "unsupported_media_type", "unknown_url", "method_not_allowed", "internal_error"):
        assert code in codes, code
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code) for code in codes)  # one spelling


def test_every_route_answers_wrong_requests_in_the_one_shape(stack: Stack) -> None:
    codes = documented_codes()
    spec = httpx.get(stack.gateway.url + "/admin/openapi.json").json()
    # The app's own route patterns ({name:path} parameters take slashes): a path beside a route that one of
    # them matches is a real route, not an unknown one.
    templates = [r.path_regex for module in ROUTE_MODULES for r in module.router.routes if isinstance(r, APIRoute)]
    client = httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {stack.admin_token}"})
    walked = bodies = 0
    for path, operations in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "zz-nothing", path)
        wrong = next(m for m in METHODS if m not in operations)
        check(client.request(wrong.upper(), concrete), 405, "method_not_allowed", codes, f"{wrong} {path}")
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            what = f"{method} {path}"
            bad = client.request(
                method.upper(), concrete, content=b'{"name": ', headers={"content-type": "application/json"}
            )
            error = check(bad, 400, "invalid_json", codes, what)
            assert str(error["message"]).startswith("the body is not valid JSON: "), (what, error)
            assert "JSON decode error" not in str(error["message"]) and "0:" not in str(error["message"]), error
            as_text = client.request(method.upper(), concrete, content=b"{}", headers={"content-type": "text/plain"})
            check(as_text, 415, "unsupported_media_type", codes, what)
            bodies += 1
        for unknown in (concrete + "/zz-unknown", concrete.rsplit("/", 1)[0] + "/zz-unknown"):
            if any(t.match(unknown) for t in templates):
                continue  # the sibling is a real route's parameter
            for method in operations:
                check(client.request(method.upper(), unknown), 404, "unknown_url", codes, f"{method} {unknown}")
        walked += 1
    assert walked >= 25 and bodies >= 15


def test_auth_validation_and_refusals_use_documented_codes(stack: Stack) -> None:
    codes = documented_codes()
    url = stack.gateway.url
    check(httpx.get(url + "/admin/members"), 401, "invalid_admin_token", codes, "no token")
    client = httpx.Client(base_url=url, headers={"authorization": f"Bearer {stack.admin_token}"})
    check(client.get("/admin/audit", params={"after": "x"}), 400, "invalid_input", codes, "query type")
    check(client.post("/admin/members", json={"name": 5}), 400, "invalid_input", codes, "body type")
    check(client.patch("/admin/members/nobody", json={"role": "admin"}), 404, "not_found", codes, "no member")
    check(client.post("/admin/members", json={"name": "a", "team": "typo"}), 404, "not_found", codes, "no team")
    client.post("/admin/teams", json={"name": "t"})
    check(client.post("/admin/teams", json={"name": "t"}), 409, "conflict", codes, "team exists")
    check(client.delete("/admin/members/admin"), 403, "permission_denied", codes, "remove oneself")
    big = b'{"name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    too_large = client.post("/admin/members", content=big, headers={"content-type": "application/json"})
    check(too_large, 413, "request_too_large", codes, "too large")
