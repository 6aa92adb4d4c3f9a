"""Azure OpenAI: deployments instead of models, ``api-key`` header, ``api-version`` query."""

from __future__ import annotations

from urllib.parse import quote

from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamResponse

# Endpoints Azure serves per resource, not per deployment (``/openai/models``).
_RESOURCE_ENDPOINTS = frozenset({"models.list", "models.retrieve"})


class AzureAdapter(ProviderAdapter):
    """``{base}/openai/deployments/{deployment}{path}?api-version=V`` with the ``api-key`` header."""

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client

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
        if not any(k.lower() == "content-type" for k, _ in headers):  # a form brings its own (the boundary)
            headers.append(("Content-Type", "application/json"))
        if provider.api_key:
            headers.append(("api-key", provider.api_key))
        return await self._client.request(request.method, self.url_for(provider, request), headers, request.body)
