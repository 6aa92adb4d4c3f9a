"""vaultgate.client in a notebook: the official SDK, one line, fresh tokens, and the clear error once revoked."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.client.conftest import Home, Served, login
from vaultgate.client import TokenAuth, async_openai_client, connect, openai_client
from vaultgate.client.errors import ExchangeLimited, KeyRefused, NotLoggedIn
from vaultgate.client.gateway_api import GatewayClient

CHAT = [{"role": "user", "content": "hi notebook"}]


@pytest.fixture
def notebook(home: Home, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """This process as the member's notebook: their home, their keyring."""
    for name, value in home.env.items():
        monkeypatch.setenv(name, value)
    yield home


def test_one_line_gives_the_official_client_with_the_stored_key(notebook: Home, served: Served) -> None:
    key, _ = served.member_key()
    with pytest.raises(NotLoggedIn):
        openai_client(gateway=served.url, allow_insecure_http=True)
    assert login(notebook, served, key).returncode == 0
    client = openai_client(max_retries=0)
    assert isinstance(client, openai.OpenAI)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=CHAT).choices[0].message.content
    assert reply == "upstream says: hi notebook"
    assert client.api_key != key and key not in repr(client.__dict__)

    async def asynchronous() -> str | None:
        aclient = async_openai_client(max_retries=0)
        answer = await aclient.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
        await aclient.close()
        return answer.choices[0].message.content

    assert asyncio.run(asynchronous()) == "upstream says: hi notebook"


def test_an_explicit_key_comes_first_and_httpx_takes_the_auth(notebook: Home, served: Served) -> None:
    key, _ = served.member_key()
    connection = connect(gateway=served.url, key=key, allow_insecure_http=True, ttl=60, models=["gpt-4o-mini"])
    with httpx.Client(auth=TokenAuth(connection.source)) as http:
        identity = http.get(connection.base_url + "/vaultgate/whoami").json()
    assert identity["credential"] == "token" and identity["models"] == ["gpt-4o-mini"]


def test_tokens_are_refreshed_across_expiry_and_revocation_stops_them(notebook: Home, served: Served) -> None:
    key, key_id = served.member_key()
    connection = connect(gateway=served.url, key=key, allow_insecure_http=True, ttl=2)
    client = openai_client(connection, max_retries=0)
    first = connection.source.token()
    deadline = time.monotonic() + 60
    while connection.source.token() == first:  # polled, no time asserted
        assert time.monotonic() < deadline, "the token was never refreshed"
        time.sleep(0.1)
    assert client.chat.completions.create(model="gpt-4o-mini", messages=CHAT).choices[0].message.content
    with httpx.Client() as http:  # the first token has ended by now (or soon): polled
        while (
            http.get(
                connection.base_url + "/vaultgate/whoami", headers={"authorization": f"Bearer {first}"}
            ).status_code
            != 401
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)

    served.revoke(key_id)
    while True:
        try:
            connection.source.token()
        except KeyRefused as exc:
            assert str(exc) == "the stored key is expired, revoked or unknown: run `vaultgate login` again"
            break
        assert time.monotonic() < deadline, "revocation never stopped the refresh"
        time.sleep(0.1)
    # The SDK raises the clear error itself (openai 3.x), or as the cause of its connection error (older ones).
    with pytest.raises((KeyRefused, openai.APIConnectionError)) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert isinstance(raised.value, KeyRefused) or isinstance(raised.value.__cause__, KeyRefused)


def test_the_sdk_is_optional_with_a_clear_message(
    notebook: Home, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "openai", None)
    with pytest.raises(ImportError, match="pip install openai"):
        openai_client(gateway=served.url, key="unused", allow_insecure_http=True)
    assert "VAULTGATE_TOKEN_URL" not in os.environ


def test_the_httpx_auth_signs_async_requests_too(notebook: Home, served: Served) -> None:
    key, _ = served.member_key()
    connection = connect(gateway=served.url, key=key, allow_insecure_http=True, ttl=60)

    async def identity() -> dict[str, str]:
        async with httpx.AsyncClient(auth=TokenAuth(connection.source)) as http:
            return dict((await http.get(connection.base_url + "/vaultgate/whoami")).json())

    assert asyncio.run(identity())["credential"] == "token"


def test_the_exchange_limit_is_reported_with_its_retry_after(notebook: Home, served: Served) -> None:
    key, _ = served.member_key()
    gateway = GatewayClient(served.url)
    with pytest.raises(ExchangeLimited) as limited:
        for _ in range(40):  # the gateway's default: 20 exchanges a minute per key
            gateway.exchange(key, 60)
    assert limited.value.retry_after > 0 and "too many token exchanges for this key" in str(limited.value)
    assert key not in str(limited.value)
