"""A loopback server playing Azure OpenAI and its Microsoft Entra ID token endpoint.

- Both URL surfaces: ``/openai/deployments/{deployment}/...?api-version=V`` (deployment-scoped
  endpoints), ``/openai/{path}?api-version=V`` (resource-wide: responses, models) and
  ``/openai/v1/{path}`` (the deployment as the body's ``model``; no api-version needed).
- Authentication: the ``api-key`` header, or ``Authorization: Bearer`` with a token it issued.
- ``POST /{tenant}/oauth2/v2.0/token``: OAuth 2.0 client credentials (form POST); answers tokens
  with ``expires_in`` set by the test (``expires_in``), counts its calls (``token_calls``); a wrong
  secret gets Entra's 401 ``invalid_client``; ``token_status`` makes it fail with that status.
- Content filter: a prompt holding :data:`FILTERED_WORD` gets Azure's 400 ``content_filter`` with
  ``innererror``; a stream starts with an annotation-only frame (empty ``choices``,
  ``prompt_filter_results``), carries ``content_filter_results`` in its choices, and ends with
  ``finish_reason: content_filter`` when the prompt holds :data:`STREAM_FILTERED_WORD`.
- A prompt holding :data:`ECHO_CREDENTIAL_WORD` gets the credential it authenticated with in the answer
  (a hostile or careless upstream), for the scrubbing tests.
- Answers repeat the last user text (``azure says: ...``) so privacy placeholders come back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.support.upstream import Captured, Scope, capture

FILTERED_WORD = "forbidden-topic"
STREAM_FILTERED_WORD = "half-forbidden"
ECHO_CREDENTIAL_WORD = "say-your-credential"
JWT_HEADER = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"  # {"typ":"JWT","alg":"RS256"}
# Azure's deployment-scoped endpoints (the SDK's list, lib/azure.py).
_DEPLOYMENT_PATHS = {
    "chat/completions",
    "completions",
    "embeddings",
    "audio/transcriptions",
    "audio/translations",
    "audio/speech",
    "images/generations",
    "images/edits",
}
_SAFE = {"filtered": False, "severity": "safe"}


def _filter_results(**flagged: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {name: dict(_SAFE) for name in ("hate", "self_harm", "sexual", "violence")}
    results["jailbreak"] = {"filtered": False, "detected": False}
    results.update(flagged)
    return results


@dataclass
class FakeAzure:
    """An ASGI app: Azure OpenAI resource ``deployments`` plus an Entra ID tenant ``tenant_id``."""

    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    deployments: frozenset[str] = frozenset({"prod-4o", "prod-embed"})
    tenant_id: str = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    client_id: str = "0b6b5c2e-1111-4222-8333-944455556666"
    client_secret: str = field(default_factory=lambda: "cs~" + secrets.token_urlsafe(30))
    expires_in: int = 3600
    token_status: int | None = None
    token_calls: int = 0
    issued: list[str] = field(default_factory=list)
    requests: list[Captured] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set by a test to hold the token endpoint until released (single-flight tests).
    token_gate: threading.Event | None = None
    token_arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def api_requests(self) -> list[Captured]:
        """The recorded requests that were not token requests."""
        with self.lock:
            return [r for r in self.requests if not r.path.endswith("/oauth2/v2.0/token")]

    def token_path(self) -> str:
        return f"/{self.tenant_id}/oauth2/v2.0/token"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = await capture(scope, receive)
        with self.lock:
            self.requests.append(request)
        if request.path == self.token_path():
            await self._token(request, send)
            return
        credential = self._authenticated(request)
        if credential is None:
            error = {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint."}
            await _json(send, 401, {"error": error})
            return
        await self._api(request, credential, send)

    async def _token(self, request: Captured, send: Any) -> None:
        self.token_arrived.set()
        if self.token_gate is not None:  # wait in a thread, so the server's loop goes on serving
            await asyncio.get_running_loop().run_in_executor(None, self.token_gate.wait)
        with self.lock:
            self.token_calls += 1
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if self.token_status is not None:
            await _json(send, self.token_status, {"error": "temporarily_unavailable"})
            return
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            await _json(send, 400, {"error": "invalid_request"})
            return
        expected = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": "https://cognitiveservices.azure.com/.default",
        }
        if form != expected:
            description = "AADSTS7000215: Invalid client secret provided."
            await _json(send, 401, {"error": "invalid_client", "error_description": description})
            return
        claims = {"aud": "https://cognitiveservices.azure.com", "tid": self.tenant_id, "appid": self.client_id}
        payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        token = f"{JWT_HEADER}.{payload}.{secrets.token_urlsafe(64)}"  # header.claims.signature, like Entra's
        with self.lock:
            self.issued.append(token)
        await _json(send, 200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token})

    def _authenticated(self, request: Captured) -> str | None:
        """The credential the request authenticated with, or None."""
        if request.headers.get("api-key") == self.api_key:
            return self.api_key
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self.lock:
            if scheme == "Bearer" and token in self.issued:
                return token
        return None

    async def _api(self, request: Captured, credential: str, send: Any) -> None:
        path = request.path
        query = parse_qs(request.query.decode())
        payload = request.json() if request.body else {}
        if path.startswith("/openai/v1/"):
            route, deployment = path[len("/openai/v1/") :], payload.get("model")
        elif path.startswith("/openai/deployments/"):
            deployment, _, route = path[len("/openai/deployments/") :].partition("/")
            if route not in _DEPLOYMENT_PATHS:
                await _json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
                return
        elif path.startswith("/openai/"):
            route, deployment = path[len("/openai/") :], payload.get("model")
        else:
            await _json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})
            return
        if not path.startswith("/openai/v1/") and "api-version" not in query:
            message = "Missing required query parameter: api-version"
            await _json(send, 400, {"error": {"code": "BadRequest", "message": message}})
            return
        if route == "models":
            data = [{"id": "gpt-4o", "object": "model", "created_at": 1, "capabilities": {}}]
            await _json(send, 200, {"object": "list", "data": data})
            return
        if deployment not in self.deployments:
            message = "The API deployment for this resource does not exist."
            await _json(send, 404, {"error": {"code": "DeploymentNotFound", "message": message}})
            return
        text = _last_text(payload)
        if FILTERED_WORD in text:
            await _json(send, 400, _content_filter_error())
            return
        reply = "azure says: " + text
        if ECHO_CREDENTIAL_WORD in text:
            reply += f" (I was called with {credential})"
        if route == "chat/completions" and payload.get("stream"):
            await _stream(send, payload, deployment, reply, filtered=STREAM_FILTERED_WORD in text)
        elif route == "chat/completions":
            await _json(send, 200, _chat(deployment, reply))
        elif route == "embeddings":
            data = [{"object": "embedding", "index": 0, "embedding": [0.25, 0.5]}]
            usage = {"prompt_tokens": 3, "total_tokens": 3}
            await _json(send, 200, {"object": "list", "model": deployment, "data": data, "usage": usage})
        elif route == "responses":
            await _json(send, 200, _response(deployment, reply))
        else:
            await _json(send, 404, {"error": {"code": "404", "message": "Resource not found"}})


def _content_filter_error() -> dict[str, Any]:
    message = (
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
        "Please modify your prompt and retry."
    )
    inner = {
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": _filter_results(
            hate={"filtered": True, "severity": "high"}, jailbreak={"filtered": True, "detected": True}
        ),
    }
    return {
        "error": {
            "message": message,
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": inner,
        }
    }


def _chat(deployment: str, reply: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-az1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-11-20",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _filter_results()}],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
                "content_filter_results": _filter_results(),
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
    }


def _response(deployment: str, reply: str) -> dict[str, Any]:
    return {
        "id": "resp_az1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": deployment,
        "output": [
            {
                "type": "message",
                "id": "msg_az1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {"input_tokens": 4, "output_tokens": 3, "total_tokens": 7},
    }


async def _stream(send: Any, payload: dict[str, Any], deployment: str, reply: str, *, filtered: bool) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})

    async def event(document: dict[str, Any]) -> None:
        await send(
            {
                "type": "http.response.body",
                "body": b"data: " + json.dumps(document).encode() + b"\n\n",
                "more_body": True,
            }
        )

    # Azure's first frame: annotations only, no choices, empty id and model.
    await event(
        {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _filter_results()}],
        }
    )
    base = {"id": "chatcmpl-az1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-2024-11-20"}
    pieces = reply.split(" ")
    for i, piece in enumerate(pieces):
        delta = {"content": piece if i == 0 else " " + piece}
        if i == 0:
            delta["role"] = "assistant"
        choice = {"index": 0, "delta": delta, "finish_reason": None, "content_filter_results": _filter_results()}
        await event({**base, "choices": [choice]})
    finish = "content_filter" if filtered else "stop"
    flagged = _filter_results(violence={"filtered": True, "severity": "medium"}) if filtered else _filter_results()
    await event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    # A trailing annotation-only frame: the verdict on the completion, no text.
    trailing = {
        "index": 0,
        "delta": {},
        "finish_reason": None,
        "content_filter_results": flagged,
        "content_filter_offsets": {"check_offset": 0, "start_offset": 0, "end_offset": len(reply)},
    }
    await event({**base, "choices": [trailing]})
    if (payload.get("stream_options") or {}).get("include_usage"):
        await event({**base, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}})
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


async def _json(send: Any, status: int, document: Any) -> None:
    body = json.dumps(document).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def _last_text(payload: dict[str, Any]) -> str:
    messages = payload.get("messages")
    if isinstance(messages, list) and messages:
        content = messages[-1].get("content")
        return content if isinstance(content, str) else json.dumps(content)
    value = payload.get("input", payload.get("prompt", ""))
    return value if isinstance(value, str) else json.dumps(value)
