"""Entra ID access tokens (upstream/entra.py) against the loopback token endpoint, with an injected clock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from types import MappingProxyType

import pytest

from tests.support.azure import FakeAzure
from tests.support.servers import ThreadedServer
from vaultgate.upstream.config import ProviderConfig, ProviderKind
from vaultgate.upstream.entra import EntraTokenRefused, EntraTokens, EntraTokenUnavailable, token_url
from vaultgate.upstream.http import UpstreamClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def azure() -> Iterator[tuple[FakeAzure, str]]:
    fake = FakeAzure()
    server = ThreadedServer(fake).start()
    yield fake, server.url
    server.stop()


def provider(fake: FakeAzure, url: str, secret: str | None = None) -> ProviderConfig:
    settings = {
        "surface": "deployments",
        "auth": "entra",
        "tenant_id": fake.tenant_id,
        "client_id": fake.client_id,
        "token_url": url + fake.token_path(),
    }
    return ProviderConfig(
        "az",
        ProviderKind.AZURE,
        url,
        api_key=secret or fake.client_secret,
        settings=MappingProxyType(settings),
    )


def run(coro_fn: object) -> object:
    async def main() -> object:
        client = UpstreamClient()
        await client.start()
        try:
            return await coro_fn(client)  # type: ignore[operator]
        finally:
            await client.stop()

    return asyncio.run(main())


def test_default_token_url_is_entras_for_the_tenant() -> None:
    config = ProviderConfig(
        "az", ProviderKind.AZURE, "https://x", settings=MappingProxyType({"tenant_id": "contoso.onmicrosoft.com"})
    )
    assert token_url(config) == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"


def test_cached_until_the_refresh_margin_then_renewed_and_both_scrubbed(azure: tuple[FakeAzure, str]) -> None:
    fake, url = azure
    clock = Clock()
    config = provider(fake, url)

    async def scenario(client: UpstreamClient) -> None:
        tokens = EntraTokens(client, clock)
        first = await tokens.token(config)
        clock.now += 3600 - 360 - 1  # 10% of an hour (6 min) is more than 5 min: that is the margin
        assert await tokens.token(config) == first
        assert fake.token_calls == 1
        clock.now += 2
        second = await tokens.token(config)
        assert second != first and fake.token_calls == 2
        signature = {token: token.rsplit(".", 1)[1] for token in (first, second)}
        assert tokens.live() == {signature[first], signature[second]}  # a request in flight may hold the first
        clock.now += 400  # the first one has expired: no longer in use anywhere
        assert tokens.live() == {signature[second]}

    run(scenario)


def test_a_failed_refresh_keeps_the_valid_token_and_an_expired_one_fails(azure: tuple[FakeAzure, str]) -> None:
    fake, url = azure
    clock = Clock()
    config = provider(fake, url)

    async def scenario(client: UpstreamClient) -> None:
        tokens = EntraTokens(client, clock)
        first = await tokens.token(config)
        fake.token_status = 503
        clock.now += 3300  # inside the margin, not expired
        assert await tokens.token(config) == first
        clock.now += 400  # expired
        with pytest.raises(EntraTokenUnavailable):
            await tokens.token(config)

    run(scenario)


def test_another_secret_never_reuses_a_token_and_a_wrong_one_is_refused(azure: tuple[FakeAzure, str]) -> None:
    fake, url = azure

    async def scenario(client: UpstreamClient) -> None:
        tokens = EntraTokens(client, Clock())
        await tokens.token(provider(fake, url))
        with pytest.raises(EntraTokenRefused) as raised:
            await tokens.token(provider(fake, url, secret="cs~rotated-but-wrong"))
        assert raised.value.code == "upstream_auth_failed" and "invalid_client" in str(raised.value)
        assert "cs~" not in str(raised.value)

    run(scenario)


def test_concurrent_requests_share_one_token_fetch(azure: tuple[FakeAzure, str]) -> None:
    fake, url = azure
    fake.token_gate = threading.Event()
    config = provider(fake, url)

    async def scenario(client: UpstreamClient) -> None:
        tokens = EntraTokens(client, Clock())
        waiting = [asyncio.create_task(tokens.token(config)) for _ in range(8)]
        # The first fetch is held at the token endpoint while the other seven ask for a token too.
        await asyncio.get_running_loop().run_in_executor(None, fake.token_arrived.wait)
        for _ in range(20):
            await asyncio.sleep(0)
        fake.token_gate.set()
        assert len(set(await asyncio.gather(*waiting))) == 1

    run(scenario)
    assert fake.token_calls == 1


def test_a_refusal_is_held_for_a_while_instead_of_asking_again_per_request(azure: tuple[FakeAzure, str]) -> None:
    fake, url = azure
    clock = Clock()
    wrong = provider(fake, url, secret="cs~wrong")

    async def scenario(client: UpstreamClient) -> None:
        tokens = EntraTokens(client, clock)
        for _ in range(3):
            with pytest.raises(EntraTokenRefused):
                await tokens.token(wrong)
        assert fake.token_calls == 1
        clock.now += 31
        with pytest.raises(EntraTokenRefused):
            await tokens.token(wrong)
        assert fake.token_calls == 2
        await tokens.token(provider(fake, url))  # the right (rotated-in) secret is asked for at once
        assert fake.token_calls == 3

    run(scenario)


def test_a_token_endpoint_that_does_not_answer_is_unavailable(azure: tuple[FakeAzure, str]) -> None:
    fake, url = azure
    fake.token_gate = threading.Event()  # never opened while the request waits

    async def scenario(client: UpstreamClient) -> None:
        tokens = EntraTokens(client, Clock(), timeout=0.2)
        with pytest.raises(EntraTokenUnavailable):
            await tokens.token(provider(fake, url))

    try:
        run(scenario)
    finally:
        fake.token_gate.set()
