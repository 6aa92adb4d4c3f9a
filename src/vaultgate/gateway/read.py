"""Stage 1, read: the endpoint template, content type and size limits, then one strict JSON parse."""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from vaultgate.gateway import azure_paths, endpoints, form, strict_json
from vaultgate.gateway.asgi import Receive, Scope, read_body
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange, new_request_id

# Exchanging a member key for a short-lived token (vaultgate's own endpoint under /v1).
TOKENS_PATH = endpoints.TOKENS.pattern
# Who the presented credential speaks for (vaultgate's own too).
WHOAMI_PATH = endpoints.WHOAMI.pattern
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def _address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _peer(text: str) -> Address | None:
    """The peer's address, parsed once per distinct address (addresses are immutable values)."""
    return _address(text)


def source_text(host: str | None, forwarded_for: str | None, proxies: Networks) -> str:
    """The client address as security events name it (``unknown`` when there is none), for the app parts
    served beside the data plane (console, SCIM) from their peer host and ``X-Forwarded-For`` header."""
    peer = _address(host) if host else None
    found = client_ip(peer, forwarded_for.encode("latin-1") if forwarded_for else None, proxies)
    return str(found) if found is not None else "unknown"


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
        raw_path=scope.get("raw_path"),
    )


def check_route(ex: Exchange) -> None:
    """The endpoint template the request matches (before reading any body); 404/405 otherwise.

    From here on the request is the template and its validated parameters: the query keeps
    only what the template forwards, and a path parameter naming a model is the model.
    """
    azure_paths.translate(ex)  # Azure-shaped clients: /openai/... becomes /v1/... first
    # A WebSocket handshake is a GET of its template (the stages call its method WEBSOCKET).
    target = endpoints.match("GET" if ex.method == "WEBSOCKET" else ex.method, ex.path, ex.raw_path)
    if target.endpoint.refusal is not None:
        raise GatewayError(403, target.endpoint.refusal.code, target.endpoint.refusal.message)
    if target.endpoint.websocket and ex.method != "WEBSOCKET":
        raise GatewayError(
            426, "websocket_required", f"{target.path} is a WebSocket endpoint: connect with a WebSocket client."
        )
    ex.target = target
    ex.path = target.path  # what matched, whatever the server decoded into scope["path"]
    ex.query = target.upstream_query(ex.query)
    ex.model = target.model


async def read(ex: Exchange, receive: Receive, limit: int) -> None:
    """Read the body the endpoint takes (JSON or a multipart form); 413, 415 or 400 when it is unusable.

    An endpoint without a body (GET, DELETE, ``.../cancel``) never reads one: whatever a client
    sends with it is neither parsed nor forwarded (the server discards it).
    """
    if ex.target is None:
        return
    endpoint = ex.target.endpoint
    if endpoint.json_body:
        await _read_json(ex, receive, limit)
    elif endpoint.multipart:
        await _read_form(ex, receive, limit)


def _declared_size(ex: Exchange) -> int | None:
    declared = ex.headers.get(b"content-length")
    try:
        return int(declared) if declared is not None else None
    except ValueError:
        raise GatewayError(400, "invalid_request", "The Content-Length header is not a number.") from None


async def _read_json(ex: Exchange, receive: Receive, limit: int) -> None:
    content_type = ex.headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    if content_type != b"application/json":
        raise GatewayError(
            415, "unsupported_media_type", "Send the request body as JSON with 'Content-Type: application/json'."
        )
    ex.body = await read_body(receive, limit, _declared_size(ex))
    payload: Any = strict_json.parse(ex.body)
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
    ex.stream = bool(stream) and ex.target is not None and ex.target.endpoint.streams


# How a form spells a boolean (the SDK sends ``true``/``false``).
_FORM_BOOLEANS = {"true": True, "false": False}


async def _read_form(ex: Exchange, receive: Receive, limit: int) -> None:
    """A multipart form: its boundary checked before reading, then parsed for ``model``, ``stream`` and text."""
    boundary = form.boundary_of(ex.headers.get(b"content-type", b""))
    ex.body = await read_body(receive, limit, _declared_size(ex))
    parsed = form.parse(ex.body, boundary)
    ex.form = parsed
    ex.model = parsed.value("model")
    stream = parsed.value("stream")
    if stream is not None and stream.strip().lower() not in _FORM_BOOLEANS:
        raise GatewayError(400, "invalid_request", "'stream' must be true or false.", param="stream")
    streams = ex.target is not None and ex.target.endpoint.streams
    ex.stream = streams and stream is not None and _FORM_BOOLEANS[stream.strip().lower()]


def model_of_path(ex: Exchange) -> None:
    """``GET /v1/models/{model}`` names a model in its path (a template parameter), checked like a body model;
    so does an Azure-shaped path's deployment."""
    if ex.target is not None and ex.target.model is not None:
        ex.model = ex.target.model
    azure_paths.bind_deployment(ex)
