"""OpenAI and OpenAI-compatible servers: same paths, ``Authorization: Bearer`` with the vault-held key."""

from __future__ import annotations

from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, RealtimeConnection, UpstreamResponse


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

    async def realtime(self, provider: ProviderConfig, request: ProxyRequest) -> RealtimeConnection:
        """The Realtime WebSocket: the base URL with ``ws(s)://``, the provider key as a bearer token."""
        base = provider.base_url
        url = ("wss://" + base[len("https://") :]) if base.startswith("https://") else "ws://" + base[len("http://") :]
        url += request.path
        if request.query:
            url += "?" + request.query.decode("latin-1")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        if provider.api_key:
            headers.append(("Authorization", "Bearer " + provider.api_key))
        return await self._client.websocket(url, headers)
