"""What a whole (non-streaming) upstream answer must look like before it is relayed.

An upstream that is not what it claims (a captive portal, a misrouted proxy, a crashing
server) must not hand a client something its SDK cannot parse, nor a success that is an
error (docs/ERRORS.md):

- a 2xx whose body is not JSON where JSON is due (declared ``application/json``, or no content
  type at all), or an HTML page: 502 ``upstream_invalid_response``. Stored file contents
  (endpoints named ``*.content``), other declared media types (audio, text) and an empty answer
  to a DELETE (OpenAI's container file deletion) pass as they are;
- a 2xx whose body is nothing but OpenAI's error envelope ``{"error": {...}}``: relayed as a 502
  (the SDK raises ``InternalServerError`` with the upstream's code) — a success it is not;
- an error status (4xx/5xx) whose body is not JSON (an HTML error page): the gateway's own
  JSON error with the upstream's status and code ``upstream_error``, so the SDK raises the class
  for that status; ``retry-after`` is kept.
"""

from __future__ import annotations

import orjson

from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange, Headers

_JSON_TYPES = (b"application/json", b"application/problem+json")


def invalid_response() -> GatewayError:
    """A success the gateway cannot relay as one."""
    return GatewayError(
        502, "upstream_invalid_response", "The upstream answered with something that is not a valid API response."
    )


def whole_answer_status(ex: Exchange, status: int, content_type: bytes, body: bytes, passed: Headers) -> int:
    """The status to relay ``body`` with (502 for an error disguised as a success); GatewayError when
    the answer cannot be relayed at all."""
    return checked_whole_answer(ex, status, content_type, body, passed)[0]


def checked_whole_answer(
    ex: Exchange, status: int, content_type: bytes, body: bytes, passed: Headers
) -> tuple[int, object | None]:
    """:func:`whole_answer_status`, and the parsed JSON of a success when it was parsed (so that usage
    is read from it without parsing the body twice)."""
    kind = content_type.split(b";", 1)[0].strip().lower()
    if 200 <= status < 300:
        endpoint = ex.target.endpoint.name if ex.target is not None else ""
        if endpoint.endswith(".content") or status == 204 or (not body and ex.method == "DELETE"):
            # A stored file is whatever was uploaded; 204, and some deletions' 200, have no body at all.
            return status, None
        if kind == b"text/html":
            raise invalid_response()
        if kind in _JSON_TYPES or not kind:
            document = _json(body)
            if document is _NOT_JSON:
                raise invalid_response()
            if isinstance(document, dict) and set(document) == {"error"} and isinstance(document["error"], dict):
                return 502, None
            return status, document
        return status, None
    if status >= 400 and _json(body) is _NOT_JSON:
        kept = [(k, v) for k, v in passed if k in (b"retry-after", b"retry-after-ms")]
        raise GatewayError(
            status,
            "upstream_error",
            f"The upstream answered with status {status} and a body that is not an API error.",
            headers=kept,
        )
    return status, None


_NOT_JSON = object()


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _NOT_JSON
