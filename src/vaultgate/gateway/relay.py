"""Stages 6-8 on the way back: relay the upstream's answer (JSON or SSE) and read its usage.

Only an allowlist of upstream headers reaches the client: the upstream's organisation id,
its rate-limit headers and cookies stay behind the gateway.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

import orjson

from vaultgate.gateway.asgi import Send
from vaultgate.gateway.exchange import Exchange, Headers
from vaultgate.sse import EventSplitter, data_of
from vaultgate.upstream.interface import UpstreamError, UpstreamResponse
from vaultgate.usage.events import tokens_from_usage

log = logging.getLogger("vaultgate.gateway")

_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,60}")
PASSED_HEADERS = frozenset({"openai-processing-ms", "openai-version", "retry-after", "retry-after-ms"})


def _headers(response: UpstreamResponse) -> tuple[bytes, Headers]:
    """The upstream's content type (JSON when it sent none) and the headers passed on, in one pass."""
    content_type = None
    passed: Headers = []
    for key, value in response.headers:
        if key in PASSED_HEADERS:
            passed.append((key.encode("latin-1"), value.encode("latin-1")))
        elif key == "content-type" and content_type is None:
            content_type = value.encode("latin-1")
    return (content_type if content_type is not None else b"application/json"), passed


def _note_usage(ex: Exchange, document: Any) -> None:
    if not isinstance(document, dict):
        return
    usage = document.get("usage")
    if usage is None and isinstance(document.get("response"), dict):
        usage = document["response"].get("usage")  # Responses API stream events
    prompt, completion = tokens_from_usage(usage)
    if prompt is not None:
        ex.prompt_tokens = prompt
    if completion is not None:
        ex.completion_tokens = completion


def _error_code(body: bytes) -> str | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if code is None:
        return None
    # Stored with the usage row: an upstream that echoes the prompt in `code` must not put content there.
    code = str(code)[:60]
    return code if _CODE.fullmatch(code) else "upstream_error"


async def relay_whole(ex: Exchange, response: UpstreamResponse, send: Send, headers: Headers) -> None:
    """Read the whole upstream body, note usage, send it on."""
    body = await response.read()
    content_type, passed = _headers(response)
    if ex.restorer is not None:  # 7 restore: placeholders back, also in errors that echo the prompt
        body = ex.restorer.body(body, is_json=b"json" in content_type)
    ex.status = response.status
    if 200 <= response.status < 300:
        if b'"usage"' in body:
            with contextlib.suppress(orjson.JSONDecodeError):
                _note_usage(ex, orjson.loads(body))
    else:
        ex.error_code = _error_code(body) or "upstream_error"
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *passed,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _keep_event(ex: Exchange, event: bytes) -> bool:
    """Note usage from an event; False for the usage-only chunk the client did not ask for."""
    if b'"usage"' not in event:
        return True
    data = data_of(event)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        return True
    _note_usage(ex, document)
    if ex.strip_usage_chunk and isinstance(document, dict):
        return not (document.get("choices") == [] and document.get("usage") is not None)
    return True


_STREAM_BROKEN = (
    b"data: "
    + orjson.dumps(
        {
            "error": {
                "message": "The upstream stream broke off.",
                "type": "upstream_error",
                "param": None,
                "code": "upstream_stream_broken",
            }
        }
    )
    + b"\n\n"
)


async def relay_stream(ex: Exchange, response: UpstreamResponse, send: Send, headers: Headers) -> None:
    """Forward SSE events as they complete, noting usage; a broken upstream ends with an error event."""
    ex.status = response.status
    content_type, passed = _headers(response)
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [
                (b"content-type", content_type),
                (b"cache-control", b"no-cache"),
                *passed,
                *headers,
            ],
        }
    )
    splitter = EventSplitter()
    restorer = ex.restorer
    try:
        async for chunk in response.chunks():
            events = [e for e in splitter.feed(chunk) if _keep_event(ex, e)]
            if restorer is not None:  # 7 restore, across chunk and event boundaries
                events = [restorer.event(e) for e in events]
            if events:
                await send({"type": "http.response.body", "body": b"".join(events), "more_body": True})
    except UpstreamError as exc:
        ex.status, ex.error_code = exc.status, "upstream_stream_broken"
        complete = restorer.finish() if restorer is not None else b""  # what was whole; fragments dropped
        await send({"type": "http.response.body", "body": complete + _STREAM_BROKEN, "more_body": False})
        return
    finally:
        await response.close()
    tail = splitter.close()
    if restorer is not None:
        tail = restorer.tail(tail)
    await send({"type": "http.response.body", "body": tail, "more_body": False})
