"""Realtime over WebSocket (``/v1/realtime?model=…``): the pieces :meth:`DataPlane.websocket` runs a session with.

A session passes the same stages as an HTTP request before anything is opened upstream:
the template (``/v1/realtime``, only ``model`` and ``call_id`` forwarded from the query), the
one presented credential, scope ``realtime`` at *write* level (a session generates content),
the model allowlist, limits (the session holds one concurrency slot from start to end; the
request rate counts it once). Then the upstream WebSocket is opened with the vault-held key
and messages are relayed both ways; the upstream's are cut free of provider credentials, and
usage is read from ``response.done`` events. A kill switch, revocation or expiry ends the
session: the client gets an ``error`` event with code ``stream_revoked`` and the socket closes
(1008, policy violation).

Credentials: ``Authorization: Bearer`` (the SDKs on servers) or, for browsers, which cannot set
headers on a WebSocket, the ``openai-insecure-api-key.<key>`` subprotocol the SDK uses; both at
once must be the same token. The key subprotocol is never echoed back: the gateway accepts
``realtime`` when offered.

Not done here: the privacy scan. Session events (text and audio) are not scanned or redacted
(docs/PRIVACY.md, Known limits); scope the ``realtime`` group off where that matters.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from vaultgate.gateway.asgi import Message, Receive, Scope, Send
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.scrub import CredentialScrubber
from vaultgate.upstream.interface import RealtimeConnection
from vaultgate.usage.events import tokens_from_usage

KEY_SUBPROTOCOL = "openai-insecure-api-key."
ACCEPTED_SUBPROTOCOL = "realtime"
# WebSocket close codes: 1000 normal, 1008 policy violation, 1011 unexpected condition.
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_ERROR = 1000, 1008, 1011
_DENIAL_EXTENSION = "websocket.http.response"


def http_scope(scope: Scope) -> Scope:
    """The WebSocket scope as the stages read a request: a GET of ``/v1/realtime``."""
    return {**scope, "method": "GET"}


def credential_from_subprotocol(ex: Exchange, scope: Scope) -> None:
    """A browser's key (``openai-insecure-api-key.<key>``) as the bearer token the stages check.

    Two different credentials (header and subprotocol) are refused by authn's one-credential rule.
    """
    keys = [p[len(KEY_SUBPROTOCOL) :] for p in scope.get("subprotocols", ()) if p.startswith(KEY_SUBPROTOCOL)]
    if not keys:
        return
    if len(keys) > 1:
        raise GatewayError(400, "invalid_request", "Send exactly one credential.", param="authorization")
    bearer = b"Bearer " + keys[0].encode("latin-1")
    presented = ex.headers.get(b"authorization")
    if presented is not None and presented.strip() != bearer:
        raise GatewayError(400, "invalid_request", "Send exactly one credential.", param="authorization")
    ex.headers[b"authorization"] = bearer


def subprotocol(scope: Scope) -> str | None:
    """The subprotocol to accept: ``realtime`` when the client offered it (browsers require an answer)."""
    return ACCEPTED_SUBPROTOCOL if ACCEPTED_SUBPROTOCOL in scope.get("subprotocols", ()) else None


async def refuse(scope: Scope, send: Send, err: GatewayError, headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse the handshake: the error as an HTTP answer where the server supports it, else a 1008 close."""
    if _DENIAL_EXTENSION in scope.get("extensions", {}):
        body = err.body()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": err.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers],
            }
        )  # fmt: skip
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": err.code})


def error_event(code: str, message: str) -> str:
    """A Realtime ``error`` server event (the SDKs surface it as an error event)."""
    error = {"type": "invalid_request_error", "code": code, "message": message, "param": None}
    return orjson.dumps({"type": "error", "event_id": None, "error": error}).decode()


class SessionSend:
    """The ``send`` a running session is registered with: what the kill switch sends as the SSE event that
    ends a stream becomes a Realtime ``error`` event and a 1008 close."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.closed = False

    async def __call__(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        try:
            error = orjson.loads(body.removeprefix(b"data: ").strip())["error"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            error = {"code": "stream_revoked", "message": "vaultgate ended this session."}
        await self.close_with(str(error.get("code")), str(error.get("message")))

    async def close_with(self, code: str, message: str) -> None:
        """Tell the client why, then close (once)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # the client may be gone already
            await self._send({"type": "websocket.send", "text": error_event(code, message)})
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": CLOSE_POLICY, "reason": code[:100]})


def _note_usage(ex: Exchange, text: str) -> None:
    if '"response.done"' not in text or '"usage"' not in text:
        return
    try:
        event: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    response = event.get("response") if isinstance(event, dict) else None
    usage = response.get("usage") if isinstance(response, dict) else None
    prompt, completion = tokens_from_usage(usage)
    if prompt is not None:
        ex.prompt_tokens = (ex.prompt_tokens or 0) + prompt
    if completion is not None:
        ex.completion_tokens = (ex.completion_tokens or 0) + completion


async def relay(
    ex: Exchange, upstream: RealtimeConnection, receive: Receive, send: SessionSend, scrub: CredentialScrubber
) -> None:
    """Messages both ways until either side closes; the upstream's scrubbed, usage noted."""

    async def from_client() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                send.closed = True
                return
            if message["type"] == "websocket.receive":
                data = message.get("text")
                await upstream.send(data if data is not None else message.get("bytes") or b"")

    async def from_upstream() -> None:
        async for message in upstream.messages():
            if isinstance(message, str):
                # Every spelling of a credential is ASCII, so cutting one never splits a character.
                text = scrub.scrub(message.encode()).decode()
                _note_usage(ex, text)
                await send({"type": "websocket.send", "text": text})
            else:
                await send({"type": "websocket.send", "bytes": scrub.scrub(message)})

    tasks = [asyncio.ensure_future(from_client()), asyncio.ensure_future(from_upstream())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # an upstream that broke raises here
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()
