"""OpenAI and OpenAI-compatible servers: same paths, ``Authorization: Bearer`` with the vault-held key."""

from __future__ import annotations

from urllib.parse import urlencode

from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamResponse, UpstreamSocket


class OpenAIAdapter(ProviderAdapter):
    """``{base_url}{path}`` with the provider key as a bearer token."""

    def __init__(self, client: UpstreamClient, *, max_realtime_message_bytes: int = 16 * 1024 * 1024) -> None:
        self._client = client
        self.max_realtime_message_bytes = max_realtime_message_bytes

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

    async def connect_realtime(self, provider: ProviderConfig, model: str, query: bytes) -> UpstreamSocket:
        """``{base_url}/realtime?model=M`` over ``wss://`` (``ws://`` for a loopback http base)."""
        base = "ws" + provider.base_url[4:] if provider.base_url.startswith("http") else provider.base_url
        url = f"{base}/realtime?{urlencode({'model': model})}"
        if query:
            url += "&" + query.decode("ascii")
        headers = [("Authorization", "Bearer " + provider.api_key)] if provider.api_key else []
        return await self._client.websocket(url, headers, self.max_realtime_message_bytes)
