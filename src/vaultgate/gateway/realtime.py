"""Realtime sessions over WebSocket (``GET /v1/realtime?model=…``), under the same controls as HTTP.

The stages run once when the session opens (:meth:`vaultgate.gateway.pipeline.DataPlane.websocket`):
route, authn on the upgrade's headers, authz (scope ``realtime``, the model from the query, the
client's address), admit (the session is one request and holds one concurrency slot until it
ends). Then the upstream socket is opened with the vault-held key, and only then is the client's
upgrade accepted, so every refusal up to here is an ordinary HTTP answer in OpenAI's error shape
(where the server supports the WebSocket denial response; else close code 1008 with the code as
the reason). From there events are relayed both ways:

- client → upstream: each text event is JSON, scanned with the key's privacy policy before it
  leaves. A finding refuses that one event (an ``error`` event back, nothing forwarded, the
  session goes on), whatever the HTTP mode is: a placeholder cannot be restored in a spoken
  answer, so redact counts as block here. Audio (binary frames, ``input_audio_buffer.append``)
  is not inspected: docs/PRIVACY.md, "Known limits".
- upstream → client: every provider credential is scrubbed from each text event, and usage is
  read from ``response.done`` events (tokens settle the limits and the usage row at the end).

A kill switch ends a running session like a stream: an ``error`` event with code
``session_revoked``, then close code 1008; the upstream socket is closed and the slot released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import orjson

from vaultgate.detect.pii_rules import Entity
from vaultgate.gateway.asgi import Receive, Scope, Send
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.scrub import CredentialScrubber
from vaultgate.gateway.streams import SHUTTING_DOWN
from vaultgate.policy.decide import Denial
from vaultgate.privacy.errors import PrivacyRefusal
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.modes import Mode, PrivacyPolicy, SecretMode
from vaultgate.upstream.interface import UpstreamError, UpstreamSocket
from vaultgate.usage.events import tokens_from_usage

log = logging.getLogger("vaultgate.gateway.realtime")

SESSION_REVOKED = "session_revoked"
# Close codes (RFC 6455): normal end, a policy refusal, the upstream failed.
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_UPSTREAM = 1000, 1008, 1011
# Events that carry only audio: not scanned (base64 audio is not text; decoding it finds noise).
_AUDIO_EVENTS = frozenset({"input_audio_buffer.append"})
_DENIAL_EXTENSION = "websocket.http.response"
# Browsers cannot set headers on a WebSocket: the SDKs put the key in a subprotocol instead. A
# vaultgate key or short-lived vgt_ token is accepted there, and never echoed back.
KEY_SUBPROTOCOL = "openai-insecure-api-key."
ACCEPTED_SUBPROTOCOL = "realtime"


def credential_from_subprotocol(ex: Exchange, scope: Scope) -> None:
    """A browser's credential (``openai-insecure-api-key.<key>``) as the bearer token the stages check.

    Two different credentials (header and subprotocol, or two subprotocols) are refused like two headers.
    """
    keys = [p[len(KEY_SUBPROTOCOL) :] for p in scope.get("subprotocols", ()) if p.startswith(KEY_SUBPROTOCOL)]
    if not keys:
        return
    bearer = b"Bearer " + keys[0].encode("latin-1")
    presented = ex.headers.get(b"authorization")
    if len(keys) > 1 or (presented is not None and presented.strip() != bearer):
        raise GatewayError(400, "invalid_request", "Send exactly one credential.", param="authorization")
    ex.headers[b"authorization"] = bearer


def subprotocol(scope: Scope) -> str | None:
    """The subprotocol to accept: ``realtime`` when the client offered it (browsers require an answer)."""
    return ACCEPTED_SUBPROTOCOL if ACCEPTED_SUBPROTOCOL in scope.get("subprotocols", ()) else None


def as_block_policy(policy: PrivacyPolicy) -> PrivacyPolicy:
    """``policy`` with every entity it does not allow blocked: what realtime text is scanned with."""
    pii = {e: (Mode.ALLOW if policy.mode(e) is Mode.ALLOW else Mode.BLOCK) for e in Entity}
    return PrivacyPolicy(pii=pii, secrets=SecretMode.BLOCK)


def error_event(code: str, message: str, event_id: str | None = None, error_type: str = "invalid_request_error") -> str:
    """A realtime ``error`` event (the SDKs surface it as an ``ErrorEvent``)."""
    error = {"type": error_type, "code": code, "message": message, "param": None, "event_id": event_id}
    return orjson.dumps({"type": "error", "event_id": None, "error": error}).decode()


class ClientSocket:
    """The client's side of the session, over ASGI's WebSocket messages."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self.accepted = False
        self.closed = False

    async def connected(self) -> bool:
        """Wait for the client's ``websocket.connect``; False when it left first."""
        message = await self._receive()
        return bool(message["type"] == "websocket.connect")

    async def refuse(self, err: GatewayError, headers: list[tuple[bytes, bytes]]) -> None:
        """Answer a refusal: an HTTP error response before the upgrade, else an error event and a close."""
        if self.closed:
            return
        if not self.accepted and _DENIAL_EXTENSION in self._scope.get("extensions", {}):
            self.closed = True
            body = err.body()
            await self._send(
                {
                    "type": "websocket.http.response.start",
                    "status": err.status,
                    "headers": [(b"content-type", b"application/json"), *err.headers, *headers],
                }
            )
            await self._send({"type": "websocket.http.response.body", "body": body})
            return
        if self.accepted:
            await self.send_text(error_event(err.code, err.message, error_type=err.error_type))
        await self.close(CLOSE_POLICY if err.status < 500 else CLOSE_UPSTREAM, err.code)

    async def accept(self) -> None:
        """Complete the upgrade (with the ``realtime`` subprotocol when the client offered it, never its key)."""
        await self._send({"type": "websocket.accept", "subprotocol": subprotocol(self._scope)})
        self.accepted = True

    async def send_text(self, text: str) -> None:
        """One text message to the client."""
        await self._send({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        """One binary message to the client."""
        await self._send({"type": "websocket.send", "bytes": data})

    async def close(self, code: int, reason: str = "") -> None:
        """Close once (a reason is at most 123 bytes)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # the client may already be gone
            await self._send({"type": "websocket.close", "code": code, "reason": reason[:120]})

    async def messages(self) -> AsyncIterator[str | bytes]:
        """The client's messages until it disconnects."""
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.closed = True
                return
            if message["type"] != "websocket.receive":
                continue
            text = message.get("text")
            yield text if text is not None else (message.get("bytes") or b"")


class Session:
    """Relays one accepted session between the client and the upstream, scanning and accounting."""

    def __init__(
        self,
        ex: Exchange,
        client: ClientSocket,
        upstream: UpstreamSocket,
        scrub: CredentialScrubber,
        guard: PrivacyGuard,
        policy: PrivacyPolicy,
        max_message_bytes: int,
    ) -> None:
        self._ex = ex
        self._client = client
        self._upstream = upstream
        self._scrub = scrub
        self._guard = guard
        self._policy = as_block_policy(policy)
        self._max = max_message_bytes

    async def run(self) -> None:
        """Relay until either side ends; the other side is then closed too."""
        inbound = asyncio.create_task(self._client_to_upstream(), name="vaultgate-realtime-in")
        outbound = asyncio.create_task(self._upstream_to_client(), name="vaultgate-realtime-out")
        try:
            done, _ = await asyncio.wait({inbound, outbound}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # an upstream break raises here
        finally:
            for task in (inbound, outbound):
                task.cancel()
            for task in (inbound, outbound):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._upstream.close()

    async def _client_to_upstream(self) -> None:
        async for data in self._client.messages():
            if isinstance(data, bytes):
                await self._upstream.send(data)  # audio: not inspected (docs/PRIVACY.md)
                continue
            refusal = await self._refusal(data)
            if refusal is None:
                await self._upstream.send(data)
            else:
                await self._client.send_text(refusal)

    async def _refusal(self, text: str) -> str | None:
        """None when the event may go upstream, else the ``error`` event that refuses it."""
        if len(text) > self._max:
            return error_event("message_too_large", f"An event may be at most {self._max} bytes.")
        try:
            event: Any = orjson.loads(text)
        except orjson.JSONDecodeError:
            return error_event("invalid_json", "Events must be JSON objects.")
        if not isinstance(event, dict):
            return error_event("invalid_json", "Events must be JSON objects.")
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
        if event.get("type") in _AUDIO_EVENTS:
            return None
        try:
            await self._guard.protect_bounded(event, {}, b"", self._policy, size=len(text))
        except PrivacyRefusal as refusal:
            log.info("realtime event refused in session %s: %s", self._ex.request_id, refusal.code)
            return error_event(refusal.code, refusal.message, event_id)
        return None

    async def _upstream_to_client(self) -> None:
        async for message in self._upstream.messages():
            data = message.data
            if isinstance(data, bytes):
                await self._client.send_bytes(self._scrub.scrub(data))
                continue
            text = self._scrub.scrub(data.encode()).decode("utf-8", "replace")
            if '"response.done"' in text:
                self._note_usage(text)
            await self._client.send_text(text)

    def _note_usage(self, text: str) -> None:
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        response = event.get("response") if isinstance(event, dict) else None
        if not isinstance(response, dict):
            return
        prompt, completion = tokens_from_usage(response.get("usage"))
        ex = self._ex
        if prompt is not None:
            ex.prompt_tokens = (ex.prompt_tokens or 0) + prompt
        if completion is not None:
            ex.completion_tokens = (ex.completion_tokens or 0) + completion


def end_code(denial: Denial) -> str:
    """The code a session ended by ``denial`` ends with: ``session_revoked`` for a kill switch."""
    return denial.code if denial is SHUTTING_DOWN else SESSION_REVOKED


async def end_revoked(client: ClientSocket, denial: Denial) -> None:
    """Tell the client a kill switch (or a shutdown past its drain time) ended its session, then close it."""
    code = end_code(denial)
    if client.accepted and not client.closed:
        with contextlib.suppress(Exception):
            await client.send_text(error_event(code, "vaultgate ended this session: " + denial.message))
    await client.close(CLOSE_POLICY, code)


def model_of(query: bytes) -> str:
    """The ``model`` query parameter of the upgrade (the template forwards only it); 400 when missing."""
    values = [v for k, v in parse_qsl(query.decode("latin-1")) if k == "model"]
    if len(values) != 1 or not values[0]:
        raise GatewayError(400, "invalid_request", "Name exactly one model: /v1/realtime?model=…", param="model")
    return values[0]


def upstream_refusal(exc: UpstreamError) -> GatewayError:
    """The gateway's answer when the upstream session could not be opened or broke."""
    return GatewayError(exc.status, exc.code, str(exc))
