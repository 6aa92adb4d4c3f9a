"""Stages 6-8 on the way back: relay the upstream's answer (JSON or SSE) and read its usage.

Only an allowlist of upstream headers reaches the client: the upstream's organisation id,
its rate-limit headers and cookies stay behind the gateway. Every provider credential is cut
out of what is relayed (headers, bodies, each whole SSE event: :mod:`vaultgate.gateway.scrub`),
and an upstream that refuses vaultgate's credential is never relayed at all: the client gets
the gateway's own 502 ``upstream_auth_failed``. (The upstream's status text never is: the
server writes its own reason phrase.)
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from vaultgate.gateway.answer_checks import checked_whole_answer
from vaultgate.gateway.asgi import Send
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange, Headers
from vaultgate.gateway.scrub import CredentialScrubber
from vaultgate.sse import EventSplitter, data_of
from vaultgate.upstream.interface import UpstreamError, UpstreamResponse, UpstreamResponseTooLarge
from vaultgate.usage.events import tokens_from_usage

log = logging.getLogger("vaultgate.gateway")

_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,60}")
# The longest single SSE event relayed (VAULTGATE_MAX_UPSTREAM_EVENT_BYTES): an upstream that never ends
# an event would otherwise grow the buffer without bound.
DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024
PASSED_HEADERS = frozenset({"openai-processing-ms", "openai-version", "retry-after", "retry-after-ms"})


# Codes (or types) an upstream gives a refused credential with a 403; any 401 is one too.
AUTH_FAILURE_CODES = frozenset(
    {"invalid_api_key", "invalid_authentication", "invalid_authentication_error", "account_deactivated"}
)


def _headers(response: UpstreamResponse, scrub: CredentialScrubber) -> tuple[bytes, Headers]:
    """The upstream's content type (JSON when it sent none) and the headers passed on, in one pass."""
    content_type = None
    passed: Headers = []
    for key, value in response.headers:
        if key in PASSED_HEADERS:
            passed.append((key.encode("latin-1"), scrub.scrub(value.encode("latin-1"))))
        elif key == "content-type" and content_type is None:
            content_type = scrub.scrub(value.encode("latin-1"))
    return (content_type if content_type is not None else b"application/json"), passed


def refuses_credential(status: int, body: bytes) -> bool:
    """Whether the upstream says vaultgate's credential is no good (any 401; a 403 with an auth code)."""
    if status == 401:
        return True
    if status != 403:
        return False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return False
    return any(isinstance(error.get(f), str) and error[f] in AUTH_FAILURE_CODES for f in ("code", "type"))


def upstream_auth_failed(provider: str) -> GatewayError:
    """The gateway's own answer when the upstream refuses its credential: the client's key was fine."""
    return GatewayError(
        502,
        "upstream_auth_failed",
        f"vaultgate's credential for provider '{provider}' was refused by the upstream; an admin must rotate it.",
        # Retrying cannot help until an admin acts; the SDKs would otherwise retry a 502 twice.
        headers=[(b"x-should-retry", b"false")],
    )


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


async def read_whole(response: UpstreamResponse) -> bytes:
    """The whole upstream body; an upstream that breaks off after its headers is the gateway's own
    502/504 (nothing has been sent to the client yet, so the answer is still a JSON error)."""
    try:
        return await response.read()
    except UpstreamError as exc:
        raise GatewayError(exc.status, exc.code, str(exc)) from None


async def relay_bytes(
    ex: Exchange, response: UpstreamResponse, send: Send, headers: Headers, scrub: CredentialScrubber
) -> None:
    """A successful answer that is not JSON to read (speech audio, file content): passed on as it
    arrives, with its content type, never held whole. Credentials are cut out piece by piece, each
    piece holding back the bytes a credential split across two pieces could start in."""
    ex.status = response.status
    content_type, passed = _headers(response, scrub)
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [(b"content-type", content_type), *passed, *headers],
        }
    )
    held = b""
    try:
        async for chunk in response.chunks():
            ready, held = scrub.scrub_prefix(held + chunk)
            if ready:
                await send({"type": "http.response.body", "body": ready, "more_body": True})
    except UpstreamError as exc:
        # Headers are out: the response is left unfinished, so the server drops the connection and
        # the client sees a broken transfer, never a short file that looks whole.
        raise GatewayError(exc.status, "upstream_stream_broken", "The upstream answer broke off.") from None
    finally:
        await response.close()
    await send({"type": "http.response.body", "body": scrub.scrub(held), "more_body": False})


async def relay_whole(
    ex: Exchange, response: UpstreamResponse, send: Send, headers: Headers, scrub: CredentialScrubber
) -> None:
    """Read the whole upstream body, scrub it, note usage, send it on; 502 when the credential was refused."""
    body = await read_whole(response)
    if refuses_credential(response.status, body):
        provider = ex.provider.name if ex.provider is not None else "?"
        log.warning("provider %r refused vaultgate's credential (upstream status %d)", provider, response.status)
        raise upstream_auth_failed(provider)
    body = scrub.scrub(body)
    content_type, passed = _headers(response, scrub)
    status, document = checked_whole_answer(ex, response.status, content_type, body, passed)  # hostile answers
    if ex.restorer is not None:  # 7 restore: placeholders back, also in errors that echo the prompt
        body = ex.restorer.body(body, is_json=b"json" in content_type)
    ex.status = status
    if 200 <= status < 300:
        if document is not None:  # parsed once, before restoring (which does not touch usage)
            _note_usage(ex, document)
    else:
        ex.error_code = _error_code(body) or "upstream_error"
    await send(
        {
            "type": "http.response.start",
            "status": status,
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


def _stream_error(message: str, code: str) -> bytes:
    error = {"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}
    return b"data: " + orjson.dumps(error) + b"\n\n"


_STREAM_BROKEN = _stream_error("The upstream stream broke off.", "upstream_stream_broken")


async def relay_stream(
    ex: Exchange,
    response: UpstreamResponse,
    send: Send,
    headers: Headers,
    scrub: CredentialScrubber,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> None:
    """Forward SSE events as they complete, scrubbed, noting usage; a broken upstream (or one event longer
    than ``max_event_bytes``) ends with an error event."""
    ex.status = response.status
    content_type, passed = _headers(response, scrub)
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
            # Whole events only: a credential split across chunks is whole again here.
            events = [e for e in splitter.feed(chunk) if _keep_event(ex, e)]
            if splitter.pending > max_event_bytes:
                raise UpstreamResponseTooLarge(f"An upstream event is longer than {max_event_bytes} bytes.")
            if not events:
                continue
            if restorer is not None:  # 7 restore, across chunk and event boundaries
                body = b"".join([restorer.event(scrub.scrub(e)) for e in events])
            else:  # whole events end in a blank line, which no credential spans: one scrub for all of them
                body = scrub.scrub(b"".join(events))
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except UpstreamError as exc:
        ex.status, ex.error_code = exc.status, "upstream_stream_broken"
        ending = _STREAM_BROKEN
        if isinstance(exc, UpstreamResponseTooLarge):
            ex.error_code = exc.code
            ending = _stream_error(str(exc), exc.code)
        complete = restorer.finish() if restorer is not None else b""  # what was whole; fragments dropped
        await send({"type": "http.response.body", "body": complete + ending, "more_body": False})
        return
    finally:
        await response.close()
    tail = scrub.scrub(splitter.close())
    if restorer is not None:
        tail = restorer.tail(tail)
    await send({"type": "http.response.body", "body": tail, "more_body": False})
