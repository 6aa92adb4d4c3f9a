"""Refused console sign-ins join the gateway's security events (``auth.failures``, flushed by the hooks), and
the providers page shows each provider's health from the data plane's circuit breakers."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from tests.conftest import Stack
from vaultgate.console import pages_org
from vaultgate.keys import tokens
from vaultgate.services import providers, routes
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import AuditEvent
from vaultgate.upstream.breaker import CircuitBreakers


def _sign_in(client: httpx.Client, base: str, credential: str) -> int:
    form = client.get("/console/signin")
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce is not None
    answer = client.post(
        "/console/signin", data={"credential": credential, "csrf": nonce.group(1)}, headers={"origin": base}
    )
    return answer.status_code


def test_refused_console_sign_ins_are_counted_as_authentication_failures(stack: Stack) -> None:
    stack.member("alice")
    unknown = tokens.mint(tokens.TokenKind.MEMBER_KEY)  # well-formed, never issued
    base = stack.gateway.url
    with httpx.Client(base_url=base) as client:
        assert _sign_in(client, base, unknown) == 401
        assert _sign_in(client, base, unknown) == 401
        assert _sign_in(client, base, "vgk_not-a-key") == 401
        assert _sign_in(client, base, stack.key("alice")) == 303  # a good one is not counted
    stack.gateway.stop()  # the graceful stop flushes the counted events to the trail (the hooks' flush)
    with stack.cp.store.session() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.failures")))
    found = {(row.target, row.details["source"]): row.details for row in rows}
    assert set(found) == {(tokens.display(unknown), "127.0.0.1"), ("malformed", "127.0.0.1")}
    assert found[(tokens.display(unknown), "127.0.0.1")]["reasons"] == {"unknown": 2}
    assert found[("malformed", "127.0.0.1")]["reasons"] == {"malformed": 1}
    assert unknown not in str([row.details for row in rows])


def test_provider_health_comes_from_the_circuit_breakers(stack: Stack) -> None:
    routes.add(stack.cp, LOCAL_OPERATOR, "gpt-4o", [routes.TargetSpec("capture", "gpt-4o-2024")])
    found = providers.list_providers(stack.cp, LOCAL_OPERATOR)
    found_routes = routes.list_routes(stack.cp, LOCAL_OPERATOR)
    now = [100.0]
    breakers = CircuitBreakers(threshold=2, cool_down=30.0, clock=lambda: now[0])
    assert pages_org.provider_health(breakers, found, found_routes) == {"capture": "ok"}
    breakers.failed("capture/gpt-4o-2024")
    breakers.failed("capture/gpt-4o-2024")
    assert pages_org.provider_health(breakers, found, found_routes) == {
        "capture": "failing: capture/gpt-4o-2024 skipped for 30 s more"
    }
    now[0] += 31
    assert pages_org.provider_health(breakers, found, found_routes) == {
        "capture": "recovering: capture/gpt-4o-2024 is being probed"
    }
    page = pages_org.providers_page(
        found, found_routes, "t", can_change=False, health=pages_org.provider_health(breakers, found, found_routes)
    )
    assert '<th scope="col">Health</th>' in page and "recovering" in page
