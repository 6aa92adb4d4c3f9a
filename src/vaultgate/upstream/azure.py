"""Azure OpenAI: deployments instead of models, ``api-key`` header, ``api-version`` query."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamResponse, UpstreamSocket

# Endpoints Azure serves per resource, not per deployment (``/openai/models``).
_RESOURCE_ENDPOINTS = frozenset({"models.list", "models.retrieve"})


class AzureAdapter(ProviderAdapter):
    """``{base}/openai/deployments/{deployment}{path}?api-version=V`` with the ``api-key`` header."""

    def __init__(self, client: UpstreamClient, *, max_realtime_message_bytes: int = 16 * 1024 * 1024) -> None:
        self._client = client
        self.max_realtime_message_bytes = max_realtime_message_bytes

    def url_for(self, provider: ProviderConfig, request: ProxyRequest) -> str:
        """The Azure URL for a request (deployment-scoped when a model is named); Azure's own ``api-version`` only.

        ``request.model`` is already the deployment name (routing resolved it)."""
        base = provider.base_url
        version = quote(provider.api_version or "", safe="")
        extra = "&" + request.query.decode("ascii") if request.query else ""
        if request.model is None or request.endpoint in _RESOURCE_ENDPOINTS:
            return f"{base}/openai{request.path}?api-version={version}{extra}"
        deployment = quote(request.model, safe="")
        return f"{base}/openai/deployments/{deployment}{request.path}?api-version={version}{extra}"

    async def send(self, provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        headers.append(("Content-Type", "application/json"))
        if provider.api_key:
            headers.append(("api-key", provider.api_key))
        return await self._client.request(request.method, self.url_for(provider, request), headers, request.body)

    async def connect_realtime(self, provider: ProviderConfig, model: str, query: bytes) -> UpstreamSocket:
        """``{base}/openai/v1/realtime?model=DEPLOYMENT`` on the v1 surface, else
        ``{base}/openai/realtime?api-version=V&deployment=DEPLOYMENT``; ``model`` is the deployment."""
        base = "ws" + provider.base_url[4:] if provider.base_url.startswith("http") else provider.base_url
        if provider.settings.get("surface") == "v1":
            url = f"{base}/openai/v1/realtime?{urlencode({'model': model})}"
        else:
            url = (
                f"{base}/openai/realtime?{urlencode({'api-version': provider.api_version or '', 'deployment': model})}"
            )
        if query:
            url += "&" + query.decode("ascii")
        headers = [("api-key", provider.api_key)] if provider.api_key else []
        return await self._client.websocket(url, headers, self.max_realtime_message_bytes)
