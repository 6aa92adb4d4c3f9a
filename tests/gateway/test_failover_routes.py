"""Failover between the deployments of a route, end to end: `vaultgate route add` with two targets, a
misbehaving first upstream, the official SDK (its own retries off) served by the second."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from tests.conftest import Stack
from tests.support.faults import Fault, FaultUpstream

from vaultgate.services import providers, routes
from vaultgate.services.context import LOCAL_OPERATOR


@pytest.fixture
def pair(stack: Stack) -> Iterator[tuple[FaultUpstream, FaultUpstream]]:
    """Providers "first" and "second" on two fault servers, and a route sending gpt-4o to first, then second."""
    first, second = FaultUpstream("first").start(), FaultUpstream("second").start()
    for name, server in (("first", first), ("second", second)):
        providers.add(
            stack.cp,
            LOCAL_OPERATOR,
            name,
            kind="compatible",
            base_url=server.url + "/v1",
            api_key=f"sk-{name}-0123456789abcdef",
            allow_insecure_http=True,
        )
    routes.add(stack.cp, LOCAL_OPERATOR, "gpt-4o", [routes.TargetSpec("first"), routes.TargetSpec("second")])
    yield first, second
    first.stop()
    second.stop()


def ask(stack: Stack, key: str) -> str | None:
    c = openai.OpenAI(base_url=stack.base_url, api_key=key, max_retries=0)
    reply = c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    return reply.choices[0].message.content


def test_a_429_then_500_on_the_first_deployment_fails_over_to_the_second(
    stack: Stack, pair: tuple[FaultUpstream, FaultUpstream]
) -> None:
    first, second = pair
    first.default = Fault("status_500")
    first.script(Fault("status_429", {"retry_after": 0}))
    stack.member("alice")
    key = stack.key("alice")
    assert "second" in (ask(stack, key) or "")
    assert first.count("status_429") == 1 and first.count("status_500") >= 1
    assert second.count("ok") == 1


def test_a_post_that_reached_the_first_deployment_is_not_sent_to_the_second(
    stack: Stack, pair: tuple[FaultUpstream, FaultUpstream]
) -> None:
    first, second = pair
    first.script("close_after_body")
    stack.member("alice")
    key = stack.key("alice")
    with pytest.raises(openai.APIStatusError) as err:
        ask(stack, key)
    assert err.value.status_code == 502 and err.value.code == "upstream_unavailable"
    assert first.count() == 1 and second.count() == 0  # the upstream may have processed it: never sent again


def test_an_unreachable_first_deployment_fails_over_at_once(
    stack: Stack, pair: tuple[FaultUpstream, FaultUpstream]
) -> None:
    first, second = pair
    first.stop()  # nothing listens there now: connection refused, nothing was sent
    stack.member("alice")
    key = stack.key("alice")
    assert "second" in (ask(stack, key) or "")
    assert second.count("ok") == 1
