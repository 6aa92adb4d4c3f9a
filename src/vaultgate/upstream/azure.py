"""Azure OpenAI: two URL surfaces, ``api-key`` or Microsoft Entra ID, deployments as the model list.

- ``deployments`` surface: ``{base}/openai/deployments/{deployment}{path}?api-version=V``
  (resource-wide endpoints such as files: ``{base}/openai{path}?api-version=V``);
- ``v1`` surface: ``{base}/openai/v1{path}``, the deployment name as the body's ``model`` (the
  forward stage puts it there), ``api-version`` only when the operator set one (``preview``).

``request.model`` is already the deployment name (routing resolved it). The credential is the
vault-held key as ``api-key``, or, with ``auth: entra``, a bearer token fetched with the vault-held
client secret (:mod:`vaultgate.upstream.entra`). ``/v1/models`` is answered from the provider's
configured deployments, not Azure's base-model list, and a content-filter refusal is rewritten
into OpenAI's error shape (:mod:`vaultgate.upstream.content_filter`).
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlencode

import orjson

from vaultgate.upstream.azure_settings import AUTH_ENTRA, SURFACE_V1
from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.content_filter import ContentFilterErrors
from vaultgate.upstream.echo import EchoResponse
from vaultgate.upstream.entra import EntraTokens
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamResponse, UpstreamSocket

# Endpoints Azure serves per resource, not per deployment (``/openai/files``...).
_MODEL_ENDPOINTS = frozenset({"models.list", "models.retrieve"})
# The deployment-scoped endpoints of the deployments surface (the rest are resource-wide).
_DEPLOYMENT_ENDPOINTS = frozenset(
    {
        "chat.completions",
        "completions",
        "embeddings",
        "audio.transcriptions",
        "audio.translations",
        "audio.speech",
        "images.generations",
        "images.edits",
    }
)


def _model_object(model: str, provider: ProviderConfig) -> dict[str, object]:
    return {"id": model, "object": "model", "created": 0, "owned_by": f"azure:{provider.name}"}


def deployment_models(provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
    """``/v1/models`` (and ``/v1/models/{model}``) answered from the configured deployments."""
    if request.endpoint == "models.list":
        data = [_model_object(model, provider) for model in sorted(provider.deployments)]
        return EchoResponse(200, [orjson.dumps({"object": "list", "data": data})])
    model = unquote(request.path.rsplit("/", 1)[-1])
    if model not in provider.deployments:
        error = {
            "message": f"The model '{model}' has no deployment on provider '{provider.name}'.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
        return EchoResponse(404, [orjson.dumps({"error": error})])
    return EchoResponse(200, [orjson.dumps(_model_object(model, provider))])


class AzureAdapter(ProviderAdapter):
    """Azure OpenAI on either surface, with an ``api-key`` or an Entra ID bearer token."""

    def __init__(
        self,
        client: UpstreamClient,
        tokens: EntraTokens | None = None,
        *,
        max_realtime_message_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self._client = client
        self._tokens = tokens if tokens is not None else EntraTokens(client)
        self.max_realtime_message_bytes = max_realtime_message_bytes

    def url_for(self, provider: ProviderConfig, request: ProxyRequest) -> str:
        """The Azure URL for a request on the provider's surface; Azure's own ``api-version`` only."""
        base = provider.base_url
        extra = request.query.decode("ascii") if request.query else ""
        version = quote(provider.api_version or "", safe="")
        if provider.settings.get("surface") == SURFACE_V1:
            query = "&".join(q for q in (f"api-version={version}" if version else "", extra) if q)
            return f"{base}/openai/v1{request.path}" + (f"?{query}" if query else "")
        query = f"?api-version={version}" + (f"&{extra}" if extra else "")
        if request.model is None or request.endpoint not in _DEPLOYMENT_ENDPOINTS:
            return f"{base}/openai{request.path}{query}"
        deployment = quote(request.model, safe="")
        return f"{base}/openai/deployments/{deployment}{request.path}{query}"

    def live_credentials(self) -> frozenset[str]:
        """The Entra ID access tokens that may be in use: cut out of answers like the provider keys."""
        return self._tokens.live()

    async def send(self, provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
        if request.endpoint in _MODEL_ENDPOINTS:
            return deployment_models(provider, request)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        if not any(k.lower() == "content-type" for k, _ in headers):  # a form brings its own (the boundary)
            headers.append(("Content-Type", "application/json"))
        if provider.settings.get("auth") == AUTH_ENTRA:
            headers.append(("Authorization", "Bearer " + await self._tokens.token(provider)))
        elif provider.api_key:
            headers.append(("api-key", provider.api_key))
        response = await self._client.request(request.method, self.url_for(provider, request), headers, request.body)
        return ContentFilterErrors(response) if response.status == 400 else response

    async def connect_realtime(self, provider: ProviderConfig, model: str, query: bytes) -> UpstreamSocket:
        """``{base}/openai/v1/realtime?model=DEPLOYMENT`` on the v1 surface, else
        ``{base}/openai/realtime?api-version=V&deployment=DEPLOYMENT``; ``model`` is the deployment."""
        base = "ws" + provider.base_url[4:] if provider.base_url.startswith("http") else provider.base_url
        if provider.settings.get("surface") == SURFACE_V1:
            url = f"{base}/openai/v1/realtime?{urlencode({'model': model})}"
        else:
            params = {"api-version": provider.api_version or "", "deployment": model}
            url = f"{base}/openai/realtime?{urlencode(params)}"
        if query:
            url += "&" + query.decode("ascii")
        headers: list[tuple[str, str]] = []
        if provider.settings.get("auth") == AUTH_ENTRA:
            headers.append(("Authorization", "Bearer " + await self._tokens.token(provider)))
        elif provider.api_key:
            headers.append(("api-key", provider.api_key))
        return await self._client.websocket(url, headers, self.max_realtime_message_bytes)
