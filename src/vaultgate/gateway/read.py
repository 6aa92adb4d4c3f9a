"""Stage 1, read: method, path, content type and size limits, then one JSON parse."""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

import orjson

from vaultgate.gateway.asgi import Receive, Scope, read_body
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange, new_request_id

# Exchanging a member key for a short-lived token (vaultgate's own endpoint under /v1).
TOKENS_PATH = "/v1/vaultgate/tokens"
# Paths served in this version, with the methods each accepts.
JSON_ENDPOINTS = frozenset(
    {"/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/embeddings", "/v1/moderations", TOKENS_PATH}
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
STREAMING_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/responses", "/v1/completions"})


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _peer(text: str) -> Address | None:
    """The peer's address, parsed once per distinct address (addresses are immutable values)."""
    return _address(text)


def _trusted(address: Address, proxies: Networks) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_ip(peer: Address | None, forwarded_for: bytes | None, proxies: Networks) -> Address | None:
    """The client's address: the peer, or — only when the peer is a trusted proxy — the nearest
    untrusted address in X-Forwarded-For (read right to left, so a client cannot forge it)."""
    if peer is None or forwarded_for is None or not proxies or not _trusted(peer, proxies):
        return peer
    hops = forwarded_for.decode("latin-1").split(",")
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return None  # a malformed hop: trust nothing beyond it
        if not _trusted(address, proxies):
            return address
    return _address(hops[0])


def start(scope: Scope, proxies: Networks = (), request_id: str | None = None) -> Exchange:
    """An exchange for the request line and headers (no body yet); a new request id unless given."""
    headers = {name.lower(): value for name, value in scope["headers"]}
    client = scope.get("client")
    peer = _peer(client[0]) if client else None
    ip = client_ip(peer, headers.get(b"x-forwarded-for"), proxies) if proxies else peer
    return Exchange(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b""),
        headers=headers,
        client_ip=ip,
        request_id=request_id if request_id is not None else new_request_id(),
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
    except orjson.JSONDecodeError as exc:
        # orjson's messages name the problem class (UTF-8, recursion) without quoting the body.
        reason = str(exc).lower()
        if "utf-8" in reason:
            detail = " The body is not valid UTF-8."
        elif "depth" in reason or "recursion" in reason:
            detail = " It is nested too deeply (more than 1024 levels)."
        else:
            detail = ""
        raise GatewayError(400, "invalid_json", "We could not parse the JSON body of your request." + detail) from None
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
