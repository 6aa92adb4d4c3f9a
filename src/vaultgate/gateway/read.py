"""Stage 1, read: method, path, content type and size limits, then one JSON parse."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson

from vaultgate.gateway.asgi import Receive, Scope, read_body
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange

# Paths served in this version, with the methods each accepts.
JSON_ENDPOINTS = frozenset(
    {"/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/embeddings", "/v1/moderations"}
)
STREAMING_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/responses", "/v1/completions"})


def _client_ip(scope: Scope) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    client = scope.get("client")
    if not client:
        return None
    try:
        return ipaddress.ip_address(client[0])
    except ValueError:
        return None


def start(scope: Scope) -> Exchange:
    """An exchange for the request line and headers (no body yet)."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        headers[name.lower()] = value
    return Exchange(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b""),
        headers=headers,
        client_ip=_client_ip(scope),
    )


def check_route(ex: Exchange) -> None:
    """404/405 for what the data plane does not serve (before reading any body)."""
    path = ex.path
    if path in JSON_ENDPOINTS:
        if ex.method != "POST":
            raise GatewayError(405, "method_not_allowed", f"{ex.method} is not allowed on {path}; use POST.")
        return
    if path == "/v1/models" or path.startswith("/v1/models/"):
        if ex.method != "GET":
            raise GatewayError(405, "method_not_allowed", f"{ex.method} is not allowed on {path}; use GET.")
        return
    raise GatewayError(404, "unknown_url", f"Unknown request URL: {ex.method} {path}. vaultgate does not serve it.")


async def read(ex: Exchange, receive: Receive, limit: int) -> None:
    """Read and parse the body of a JSON endpoint; 413, 415 or 400 when it is unusable."""
    if ex.method != "POST":
        return
    content_type = ex.headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if content_type != b"application/json":
        raise GatewayError(
            415, "unsupported_media_type", "Send the request body as JSON with 'Content-Type: application/json'."
        )
    declared = ex.headers.get(b"content-length")
    try:
        size = int(declared) if declared is not None else None
    except ValueError:
        raise GatewayError(400, "invalid_request", "The Content-Length header is not a number.") from None
    ex.body = await read_body(receive, limit, size)
    try:
        payload: Any = orjson.loads(ex.body)
    except orjson.JSONDecodeError:
        raise GatewayError(400, "invalid_json", "We could not parse the JSON body of your request.") from None
    if not isinstance(payload, dict):
        raise GatewayError(400, "invalid_request", "The request body must be a JSON object.")
    ex.payload = payload
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise GatewayError(400, "invalid_request", "'model' must be a string.", param="model")
    ex.model = model
    stream = payload.get("stream", False)
    if stream not in (True, False, None):
        raise GatewayError(400, "invalid_request", "'stream' must be a boolean.", param="stream")
    ex.stream = bool(stream) and ex.path in STREAMING_ENDPOINTS


def model_of_path(ex: Exchange) -> None:
    """``GET /v1/models/{model}`` names a model in its path; policy checks it like a body model."""
    if ex.path.startswith("/v1/models/"):
        ex.model = ex.path[len("/v1/models/") :]
