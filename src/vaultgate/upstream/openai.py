"""OpenAI and OpenAI-compatible servers: same paths, ``Authorization: Bearer`` with the vault-held key."""

from __future__ import annotations

from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamResponse


class OpenAIAdapter(ProviderAdapter):
    """``{base_url}{path}`` with the provider key as a bearer token."""

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client

    async def send(self, provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
        url = provider.base_url + request.path
        if request.query:
            url += "?" + request.query.decode("latin-1")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        if not any(k.lower() == "content-type" for k, _ in headers):  # a form brings its own (the boundary)
            headers.append(("Content-Type", "application/json"))
        if provider.api_key:
            headers.append(("Authorization", "Bearer " + provider.api_key))
        return await self._client.request(request.method, url, headers, request.body)
