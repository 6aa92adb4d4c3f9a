"""Adapters address the upstream with the path built from the template, never anything of the client's."""

from __future__ import annotations

import asyncio
from types import MappingProxyType

import orjson

from vaultgate.gateway.endpoints import match
from vaultgate.upstream.azure import AzureAdapter
from vaultgate.upstream.config import ProviderConfig, ProviderKind
from vaultgate.upstream.echo import EchoAdapter
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProxyRequest

AZURE = ProviderConfig(
    "az",
    ProviderKind.AZURE,
    "https://example.openai.azure.com",
    api_key="k",
    api_version="2024-10-21",
    deployments=MappingProxyType({"gpt-4o": "prod-4o"}),
)


def request(method: str, path: str, model: str | None, query: bytes = b"") -> ProxyRequest:
    target = match(method, path)
    return ProxyRequest(method, target.endpoint.name, target.upstream_path(), query, [], b"{}", model, False)


def test_azure_chat_goes_to_the_deployment_and_models_to_the_resource() -> None:
    azure = AzureAdapter(UpstreamClient())
    assert azure.url_for(AZURE, request("POST", "/v1/chat/completions", "prod-4o")) == (
        "https://example.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    )
    assert azure.url_for(AZURE, request("GET", "/v1/models/gpt-4o", "gpt-4o")) == (
        "https://example.openai.azure.com/openai/models/gpt-4o?api-version=2024-10-21"
    )
    assert azure.url_for(AZURE, request("GET", "/v1/models", None, b"a=1")) == (
        "https://example.openai.azure.com/openai/models?api-version=2024-10-21&a=1"
    )


def test_echo_dispatches_on_the_template_name() -> None:
    echo = EchoAdapter()
    provider = ProviderConfig("echo", ProviderKind.ECHO, "echo://local")
    found = asyncio.run(echo.send(provider, request("GET", "/v1/models/gpt-4o", "gpt-4o")))
    assert found.status == 200 and orjson.loads(asyncio.run(found.read()))["id"] == "gpt-4o"
    missing = asyncio.run(echo.send(provider, request("GET", "/v1/models/nope", "nope")))
    assert missing.status == 404
    listing = asyncio.run(echo.send(provider, request("GET", "/v1/models", None)))
    assert len(orjson.loads(asyncio.run(listing.read()))["data"]) > 1


def test_azure_v1_surface_and_resource_wide_endpoints() -> None:
    azure = AzureAdapter(UpstreamClient())
    v1 = ProviderConfig(
        "az1",
        ProviderKind.AZURE,
        "https://example.openai.azure.com",
        api_key="k",
        deployments=MappingProxyType({"gpt-4o": "prod-4o"}),
        settings=MappingProxyType({"surface": "v1", "auth": "api-key"}),
    )
    assert azure.url_for(v1, request("POST", "/v1/chat/completions", "prod-4o")) == (
        "https://example.openai.azure.com/openai/v1/chat/completions"
    )
    preview = ProviderConfig("az2", ProviderKind.AZURE, v1.base_url, api_version="preview", settings=v1.settings)
    assert azure.url_for(preview, request("POST", "/v1/responses", "prod-4o")) == (
        "https://example.openai.azure.com/openai/v1/responses?api-version=preview"
    )
    # On the deployments surface the Responses API is resource-wide (the deployment is the body's model).
    assert azure.url_for(AZURE, request("POST", "/v1/responses", "prod-4o")) == (
        "https://example.openai.azure.com/openai/responses?api-version=2024-10-21"
    )
