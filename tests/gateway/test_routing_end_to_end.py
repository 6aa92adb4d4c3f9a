"""Routes and residency through a running gateway, with the official openai SDK and real upstreams on loopback.

Three upstreams: "capture" (the stack's default provider), B and C (each a CaptureUpstream of its own).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
from tests.conftest import Stack
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.server import build
from vaultgate.services import members, providers, routes, teams
from vaultgate.services.context import LOCAL_OPERATOR

T = routes.TargetSpec


@dataclass
class Upstreams:
    b: CaptureUpstream
    c: CaptureUpstream


@pytest.fixture
def upstreams(stack: Stack) -> Iterator[Upstreams]:
    """Providers b and c on two more loopback upstreams; "eu" (data zone EU) and "glob" (global) on them too."""
    found = Upstreams(CaptureUpstream(), CaptureUpstream())
    servers = [ThreadedServer(found.b).start(), ThreadedServer(found.c).start()]
    for name, server, labels in (
        ("b", servers[0], {}),
        ("c", servers[1], {}),
        ("glob", servers[0], {"geography": "eu", "deployment_type": "global"}),
        ("eu", servers[1], {"geography": "eu", "deployment_type": "datazone"}),
    ):
        providers.add(
            stack.cp,
            LOCAL_OPERATOR,
            name,
            kind="compatible",
            base_url=server.url + "/v1",
            api_key=f"sk-{name}-upstream-key-0123456789",
            allow_insecure_http=True,
            **labels,
        )
    yield found
    for server in servers:
        server.stop()


def client(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


def ask(c: openai.OpenAI, model: str) -> str | None:
    reply = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return reply.choices[0].message.content


def test_an_alias_and_a_third_provider_get_their_traffic(stack: Stack, upstreams: Upstreams) -> None:
    routes.add(stack.cp, LOCAL_OPERATOR, "fast", [T("b", "gpt-4o-mini")])
    routes.add(stack.cp, LOCAL_OPERATOR, "o3*", [T("c")])
    stack.member("alice")
    c = client(stack.base_url, stack.key("alice"))

    assert ask(c, "fast") == "upstream says: hi"
    assert [r.json()["model"] for r in upstreams.b.requests] == ["gpt-4o-mini"]  # the alias's target model
    assert upstreams.b.last.headers["authorization"] == "Bearer sk-b-upstream-key-0123456789"

    ask(c, "o3-mini")  # the complaint: a third provider can get traffic
    assert [r.json()["model"] for r in upstreams.c.requests] == ["o3-mini"]
    ask(c, "gpt-4o")  # no route: the default provider, as before
    assert [r.json()["model"] for r in stack.upstream.requests] == ["gpt-4o"]

    listed = [m.id for m in c.models.list()]
    assert "fast" in listed and listed.count("gpt-4o") == 1
    assert "o3*" not in listed  # patterns are not models

    usage = stack.usage(3)
    assert sorted(r.provider or "" for r in usage if r.endpoint == "chat/completions") == ["b", "c", "capture"]


def test_a_residency_team_is_refused_global_only_models_and_served_by_the_eu_deployment(
    stack: Stack, upstreams: Upstreams
) -> None:
    teams.create(stack.cp, LOCAL_OPERATOR, "research")
    teams.set_policy(stack.cp, LOCAL_OPERATOR, "research", policy={"residency": ["eu"]})
    members.add(stack.cp, LOCAL_OPERATOR, "erika", team="research")
    routes.add(stack.cp, LOCAL_OPERATOR, "gpt-4o", [T("glob")])
    routes.add(stack.cp, LOCAL_OPERATOR, "gpt-4.1", [T("glob"), T("eu")])
    c = client(stack.base_url, stack.key("erika"))

    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(c, "gpt-4o")
    body = refused.value.body
    assert isinstance(body, dict) and body["code"] == "residency_not_allowed"
    assert "gpt-4o" in body["message"] and "eu" in body["message"] and "glob" not in body["message"]
    assert upstreams.b.requests == []  # nothing left for the global deployment

    assert ask(c, "gpt-4.1") == "upstream says: hi"
    assert [r.json()["model"] for r in upstreams.c.requests] == ["gpt-4.1"]  # the EU deployment
    assert upstreams.b.requests == []

    with pytest.raises(openai.PermissionDeniedError):
        c.models.list()  # model-less requests go to the default provider, which has no geography

    # A member outside the team is not held to it.
    stack.member("bob")
    assert ask(client(stack.base_url, stack.key("bob")), "gpt-4o") == "upstream says: hi"

    rows = stack.usage(3)
    refusals = [(r.status, r.error_code, r.provider) for r in rows if r.error_code == "residency_not_allowed"]
    assert refusals[0] == (403, "residency_not_allowed", None)


def test_a_replica_serves_a_new_route_once_it_has_reloaded(stack: Stack, upstreams: Upstreams) -> None:
    replica = ThreadedServer(build(stack.settings)).start()
    try:
        stack.member("alice")
        key = stack.key("alice")
        routes.add(stack.cp, LOCAL_OPERATOR, "fast", [T("b", "gpt-4o-mini")])
        target = stack.cp.store.revision()
        deadline = time.monotonic() + 5  # a loaded machine's margin over the one second promised
        while int(httpx.get(replica.url + "/healthz").json()["revision"]) < target:
            assert time.monotonic() < deadline, "the replica did not pick up the new route"
            time.sleep(0.02)  # as Stack.sync: the replica's revision is only observable by asking
        assert ask(client(replica.url + "/v1", key), "fast") == "upstream says: hi"
        assert upstreams.b.last.json()["model"] == "gpt-4o-mini"
    finally:
        replica.stop()
