"""Roles × routes, generated from ``/admin/openapi.json``: every route and method, for each role, on an
object of the actor's own team and of another team — the status, and for listings the rows visible.

The expectations are a table keyed by (method, path template) with one rule per role; a route that the
OpenAPI document has and the table does not (or the reverse) fails the test, so a new route cannot ship
without a decision about who may call it.

Roles: owner, org admin (an admin without a team), team admin (an admin of the "own" team), auditor,
member (of the "own" team). Targets are created fresh for every call, named after their team, so a
listing shows whose rows it holds by the names in it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.conftest import Stack

from vaultgate.services import admin_tokens, credentials, identity, keys, members, org, providers, routes, teams, usage
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent
from vaultgate.usage.events import UsageRecord

ROLES = ("owner", "org_admin", "team_admin", "auditor", "member")
OWN, OTHER = "own", "other"

# A rule: role -> (status on an object of the actor's own team, status on one of another team).
Rule = dict[str, tuple[int, int]]


def everyone(status: int) -> Rule:
    return {role: (status, status) for role in ROLES}


def org_managers(status: int) -> Rule:
    """Owners and organisation admins only; nobody else, whatever the object (403, no lookup first)."""
    return {role: (status, status) if role in ("owner", "org_admin") else (403, 403) for role in ROLES}


def a_members_things(status: int) -> Rule:
    """A plain member's object: managers in reach change it; an auditor sees it (403); a member does not (404)."""
    return {
        "owner": (status, status),
        "org_admin": (status, status),
        "team_admin": (status, 404),
        "auditor": (403, 403),
        "member": (404, 404),
    }


@dataclass
class World:
    """Two teams with one of everything in each, and an actor of one role belonging to the first."""

    stack: Stack
    role: str
    own: str
    other: str
    actor: str
    client: httpx.Client
    lockdown_changed: bool = False

    def team(self, target: str) -> str:
        return self.own if target == OWN else self.other

    def fresh_member(self, target: str) -> str:
        return members.add(
            self.stack.cp, LOCAL_OPERATOR, f"{self.team(target)}-m{secrets.token_hex(3)}", team=self.team(target)
        ).name

    def fresh_key(self, target: str) -> keys.CreatedKey:
        return keys.create(self.stack.cp, LOCAL_OPERATOR, self.fresh_member(target))

    def fresh_provider(self) -> str:
        name = f"p{secrets.token_hex(4)}"
        providers.add(
            self.stack.cp,
            LOCAL_OPERATOR,
            name,
            kind="compatible",
            base_url="https://llm.example.com/v1",
            api_key="sk-old-" + secrets.token_hex(8),
        )
        return name


def make_world(stack: Stack, role: str) -> World:
    cp = stack.cp
    tag = secrets.token_hex(3)
    own, other = f"own{tag}", f"other{tag}"
    for team in (own, other):
        teams.create(cp, LOCAL_OPERATOR, team)
    # One member with a key, an admin token and usage in each team, for the listings.
    for team in (own, other):
        name = members.add(cp, LOCAL_OPERATOR, f"{team}-seed", team=team).name
        created = keys.create(cp, LOCAL_OPERATOR, name)
        admin_tokens.create(cp, LOCAL_OPERATOR, name)
        usage.write(
            cp,
            [
                UsageRecord(
                    at=cp.clock(),
                    request_id="req_" + secrets.token_hex(12),
                    member_id=created_member_id(stack, name),
                    key_id=created.info.id,
                    provider="capture",
                    endpoint="chat",
                    model="gpt-4o-mini",
                    status=200,
                    error_code=None,
                    stream=False,
                    prompt_tokens=3,
                    completion_tokens=5,
                    latency_ms=1.0,
                )
            ],
        )
    actor = {
        "owner": ("admin", None, None),
        "org_admin": (f"act{tag}", "admin", None),
        "team_admin": (f"act{tag}", "admin", own),
        "auditor": (f"act{tag}", "auditor", None),
        "member": (f"act{tag}", "member", own),
    }[role]
    if actor[1] is not None:
        members.add(cp, LOCAL_OPERATOR, actor[0], role=actor[1], team=actor[2])
    _, token = admin_tokens.create(cp, LOCAL_OPERATOR, actor[0])
    client = httpx.Client(base_url=stack.gateway.url, headers={"authorization": f"Bearer {token}"})
    return World(stack, role, own, other, actor[0], client)


def created_member_id(stack: Stack, name: str) -> str:
    return next(m.id for m in members.list_members(stack.cp, LOCAL_OPERATOR) if m.name == name)


# A route's case: the rule, and how to make (path parameters, body) for a target.
Prepare = Callable[[World, str], tuple[dict[str, str], Any]]


@dataclass(frozen=True)
class Case:
    rule: Rule
    prepare: Prepare = field(default=lambda w, t: ({}, None))
    # For listings: role -> (rows of the own team visible, rows of the other team visible).
    listing: dict[str, tuple[bool, bool]] | None = None


def _member(body: Callable[[str], Any] = lambda name: None) -> Prepare:
    def prepare(w: World, target: str) -> tuple[dict[str, str], Any]:
        name = w.fresh_member(target)
        return {"name": name}, body(name)

    return prepare


def _suspended_member(w: World, target: str) -> tuple[dict[str, str], Any]:
    name = w.fresh_member(target)
    members.suspend(w.stack.cp, LOCAL_OPERATOR, name)
    return {"name": name}, None


def _key(body: Any = None) -> Prepare:
    def prepare(w: World, target: str) -> tuple[dict[str, str], Any]:
        return {"key_id": w.fresh_key(target).info.id}, body

    return prepare


def _leaked(w: World, target: str) -> tuple[dict[str, str], Any]:
    token = w.fresh_key(target).token
    return {}, {"fingerprints": [hashlib.sha256(token.encode()).hexdigest()]}


def _team(body: Any = None, *, suspended: bool = False) -> Prepare:
    def prepare(w: World, target: str) -> tuple[dict[str, str], Any]:
        name = w.team(target)
        is_suspended = next(t.suspended for t in teams.list_teams(w.stack.cp, LOCAL_OPERATOR) if t.name == name)
        if is_suspended != suspended:
            (teams.suspend if suspended else teams.resume)(w.stack.cp, LOCAL_OPERATOR, name)
        return {"name": name}, body

    return prepare


def _fresh_team(body: Callable[[str], Any] = lambda name: None) -> Prepare:
    """A new empty team (renaming or deleting the world's own teams would change the world)."""

    def prepare(w: World, target: str) -> tuple[dict[str, str], Any]:
        name = teams.create(w.stack.cp, LOCAL_OPERATOR, f"{w.team(target)}-t{secrets.token_hex(3)}").name
        return {"name": name}, body(name)

    return prepare


def _lockdown(w: World, target: str) -> tuple[dict[str, str], Any]:
    w.lockdown_changed = True
    return {}, {"on": True}


def _token(w: World, target: str) -> tuple[dict[str, str], Any]:
    info, _ = admin_tokens.create(w.stack.cp, LOCAL_OPERATOR, w.fresh_member(target))
    return {"token_id": info.id}, None


def _provider(body: Any = None) -> Prepare:
    def prepare(w: World, target: str) -> tuple[dict[str, str], Any]:
        return {"name": w.fresh_provider()}, body

    return prepare


def _credential(state: str) -> Prepare:
    def prepare(w: World, target: str) -> tuple[dict[str, str], Any]:
        name = w.fresh_provider()
        cred = credentials.add(w.stack.cp, LOCAL_OPERATOR, name, "sk-new-" + secrets.token_hex(8))
        if state == "draining":
            credentials.drain(w.stack.cp, LOCAL_OPERATOR, name, cred.id)
        return {"name": name, "cred_id": cred.id}, None

    return prepare


def _mapping(w: World, target: str) -> tuple[dict[str, str], Any]:
    group = f"g-{target}-{secrets.token_hex(3)}"
    identity.set_mapping(w.stack.cp, LOCAL_OPERATOR, group, w.team(target), "member")
    return {"group": group}, None


def _route(w: World, target: str) -> tuple[dict[str, str], Any]:
    name = f"alias-{secrets.token_hex(4)}"
    routes.add(w.stack.cp, LOCAL_OPERATOR, name, [routes.TargetSpec(w.fresh_provider(), "gpt-4o-mini")])
    return {"name": name}, None


EVERYTHING = {role: (True, True) for role in ROLES}
MEMBER_ROWS = {**EVERYTHING, "team_admin": (True, False), "member": (False, False)}

EXPECTED: dict[tuple[str, str], Case] = {
    ("get", "/admin/me"): Case(everyone(200)),
    # members
    ("post", "/admin/members"): Case(
        {**org_managers(201), "team_admin": (201, 403)},
        lambda w, t: ({}, {"name": f"{w.team(t)}-n{secrets.token_hex(3)}", "team": w.team(t)}),
    ),
    ("get", "/admin/members"): Case(everyone(200), listing=MEMBER_ROWS),
    ("patch", "/admin/members/{name}"): Case(a_members_things(200), _member(lambda n: {"display_name": "A. N."})),
    ("delete", "/admin/members/{name}"): Case(a_members_things(200), _member()),
    ("post", "/admin/members/{name}/suspend"): Case(a_members_things(200), _member()),
    ("post", "/admin/members/{name}/resume"): Case(a_members_things(200), _suspended_member),
    ("put", "/admin/members/{name}/limits"): Case(a_members_things(200), _member(lambda n: {"rpm": 60})),
    # data subject rights: the organisation's decision (docs/COMPLIANCE.md), not a team admin's
    ("get", "/admin/members/{name}/export"): Case(org_managers(200), _member()),
    ("post", "/admin/members/{name}/erase"): Case(org_managers(200), _member()),
    # teams
    ("post", "/admin/teams"): Case(org_managers(201), lambda w, t: ({}, {"name": f"new{secrets.token_hex(4)}"})),
    ("get", "/admin/teams"): Case(
        everyone(200), listing={**EVERYTHING, "team_admin": (True, False), "member": (True, False)}
    ),
    ("put", "/admin/teams/{name}/policy"): Case(
        {**org_managers(200), "team_admin": (200, 404), "auditor": (403, 403), "member": (403, 404)},
        _team({"max_key_age_days": 90}),
    ),
    ("patch", "/admin/teams/{name}"): Case(org_managers(200), _fresh_team(lambda n: {"name": n + "-renamed"})),
    ("delete", "/admin/teams/{name}"): Case(org_managers(200), _fresh_team()),
    ("put", "/admin/teams/{name}/limits"): Case(org_managers(200), _team({"rpm": 600})),
    ("post", "/admin/teams/{name}/suspend"): Case(org_managers(200), _team(suspended=False)),
    ("post", "/admin/teams/{name}/resume"): Case(org_managers(200), _team(suspended=True)),
    ("put", "/admin/lockdown"): Case(org_managers(200), _lockdown),
    ("get", "/admin/lockdown"): Case({**everyone(200), "member": (403, 403)}),
    # the organisation's policy: every admin and auditor reads it (it bounds their keys), org managers set it
    ("get", "/admin/org/policy"): Case({**everyone(200), "member": (403, 403)}),
    ("put", "/admin/org/policy"): Case(org_managers(200), lambda w, t: ({}, {"scopes": {"images": "none"}})),
    ("delete", "/admin/org/policy"): Case(org_managers(200)),
    # admin tokens: for oneself only, except owners
    ("post", "/admin/tokens"): Case(
        {role: (201, 201) if role == "owner" else (403, 403) for role in ROLES},
        lambda w, t: ({}, {"member": w.fresh_member(t), "expires_in": "1h"}),
    ),
    ("get", "/admin/tokens"): Case(
        everyone(200),
        listing={role: (True, True) if role in ("owner", "auditor") else (False, False) for role in ROLES},
    ),
    ("post", "/admin/tokens/{token_id}/revoke"): Case(
        {
            "owner": (200, 200),
            "org_admin": (404, 404),
            "team_admin": (404, 404),
            "auditor": (403, 403),
            "member": (404, 404),
        },
        _token,
    ),
    # usage and audit
    ("get", "/admin/usage"): Case(everyone(200), listing=MEMBER_ROWS),
    # identity: group mappings are organisation settings (no personal data); the sync report covers everyone
    ("get", "/admin/identity/mappings"): Case({**everyone(200), "member": (403, 403)}),
    ("put", "/admin/identity/mappings/{group}"): Case(
        org_managers(200),
        lambda w, t: ({"group": f"g-{t}-{secrets.token_hex(3)}"}, {"team": w.team(t), "role": "member"}),
    ),
    ("delete", "/admin/identity/mappings/{group}"): Case(org_managers(204), _mapping),
    ("get", "/admin/identity/sync"): Case({**everyone(200), "member": (403, 403), "team_admin": (403, 403)}),
    ("get", "/admin/audit"): Case(
        {role: (200, 200) if role in ("owner", "org_admin", "auditor") else (403, 403) for role in ROLES}
    ),
    ("get", "/admin/audit/verify"): Case(
        {role: (200, 200) if role in ("owner", "org_admin", "auditor") else (403, 403) for role in ROLES}
    ),
    # keys
    ("post", "/admin/keys"): Case(a_members_things(201), _member(lambda name: {"member": name})),
    ("get", "/admin/keys"): Case(everyone(200), listing=MEMBER_ROWS),
    ("post", "/admin/keys/leaked"): Case(org_managers(200), _leaked),
    ("post", "/admin/keys/{key_id}/revoke"): Case(a_members_things(200), _key()),
    ("post", "/admin/keys/{key_id}/rotate"): Case(a_members_things(200), _key({"grace": "0s"})),
    # providers: the organisation's, no team dimension
    ("post", "/admin/providers"): Case(
        org_managers(201), lambda w, t: ({}, {"name": f"p{secrets.token_hex(4)}", "kind": "echo"})
    ),
    ("get", "/admin/providers"): Case(org_managers(200)),
    ("get", "/admin/providers/{name}/credentials"): Case(org_managers(200), _provider()),
    ("post", "/admin/providers/{name}/credentials"): Case(org_managers(201), _provider({"api_key": "sk-x"})),
    ("post", "/admin/providers/{name}/credentials/{cred_id}/drain"): Case(org_managers(200), _credential("active")),
    ("delete", "/admin/providers/{name}/credentials/{cred_id}"): Case(org_managers(200), _credential("draining")),
    ("patch", "/admin/providers/{name}"): Case(org_managers(200), _provider({"geography": "eu"})),
    ("delete", "/admin/providers/{name}"): Case(org_managers(200), _provider()),
    ("post", "/admin/providers/{name}/default"): Case(org_managers(200), _provider()),
    # routes: the organisation's routing table, like providers
    ("get", "/admin/routes"): Case(org_managers(200)),
    ("post", "/admin/routes"): Case(
        org_managers(201),
        lambda w, t: ({}, {"name": f"alias-{secrets.token_hex(4)}", "targets": [{"provider": w.fresh_provider()}]}),
    ),
    ("get", "/admin/routes/{name}"): Case(org_managers(200), _route),
    ("delete", "/admin/routes/{name}"): Case(org_managers(200), _route),
    # stored upstream objects: assigning one to a member is the organisation's call
    ("post", "/admin/objects"): Case(
        org_managers(201),
        lambda w, t: ({}, {"id": f"file-{secrets.token_hex(6)}", "kind": "file", "member": w.fresh_member(t)}),
    ),
}


def rows_of(listing: list[dict[str, Any]], team: str) -> bool:
    """Whether a listing holds a row of ``team``: the team itself, or something of a member named after it."""
    owners = (row.get("member") or row.get("name") or "" for row in listing)
    return any(name == team or name.startswith(team + "-") for name in owners)


def changes(stack: Stack) -> int:
    """How many changes the audit log holds (every change is audited in its own transaction)."""
    with stack.cp.store.session() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "ok")) or 0


def spec_routes(stack: Stack) -> set[tuple[str, str]]:
    spec = httpx.get(stack.gateway.url + "/admin/openapi.json").json()
    return {(method, path) for path, operations in spec["paths"].items() for method in operations}


def test_the_table_covers_every_route_of_the_openapi_document(stack: Stack) -> None:
    routes = spec_routes(stack)
    assert routes - EXPECTED.keys() == set(), "routes without a roles rule: add them to EXPECTED"
    assert EXPECTED.keys() - routes == set(), "rules for routes that no longer exist"
    for case in EXPECTED.values():
        assert set(case.rule) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_on_each_route_against_its_own_team_and_another(stack: Stack, role: str) -> None:
    world = make_world(stack, role)
    failures: list[str] = []
    for method, path in sorted(spec_routes(stack)):
        case = EXPECTED[(method, path)]
        for target, expected in zip((OWN, OTHER), case.rule[role], strict=True):
            params, body = case.prepare(world, target)
            concrete = path.format(**params)
            changes_before = changes(stack)
            resp = world.client.request(method.upper(), concrete, json=body)
            if resp.status_code >= 400 and changes(stack) != changes_before:
                failures.append(
                    f"{method.upper()} {path} [{target}]: refused ({resp.status_code}) but changed something"
                )
            if resp.status_code != expected:
                failures.append(
                    f"{method.upper()} {path} [{target}]: {resp.status_code}, expected {expected}: {resp.text[:200]}"
                )
            elif resp.status_code >= 400:
                assert set(resp.json()["error"]) == {"message", "type", "param", "code"}, resp.text
            if case.listing is not None and resp.status_code == 200:
                own_seen, other_seen = (rows_of(resp.json(), world.own), rows_of(resp.json(), world.other))
                if (own_seen, other_seen) != case.listing[role]:
                    failures.append(
                        f"{method.upper()} {path}: rows of (own, other) team visible "
                        f"{(own_seen, other_seen)}, expected {case.listing[role]}"
                    )
            if world.lockdown_changed:
                with stack.cp.store.session() as session:
                    on = org.lockdown_active(session)
                if on:
                    org.set_lockdown(stack.cp, LOCAL_OPERATOR, False)
                world.lockdown_changed = False
    assert not failures, "\n".join(failures)
