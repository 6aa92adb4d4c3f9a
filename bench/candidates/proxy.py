"""Minimal pass-through ASGI proxy, the prototype used to choose the data plane's stack.

It does what every gateway request must do at the least, and nothing more:
read the body, check a bearer token against a dict, parse the JSON once, forward the
original bytes (no re-serialising) to the upstream with a pooled client, parse the
response's `usage` (accounting needs it), return the response. SSE is streamed through.

The variant is chosen by environment variables, so the same module runs under any
ASGI server:

    CANDIDATE_CLIENT   aiohttp | httpx          (default aiohttp)
    CANDIDATE_JSON     orjson | json            (default orjson)
    CANDIDATE_UPSTREAM http://127.0.0.1:18080   (the stub)
    CANDIDATE_UPSTREAM_KEY                      (the bearer token sent upstream)

    uvicorn proxy:app --loop uvloop --http httptools --port 18081
    granian --interface asgi --loop uvloop --port 18081 proxy:app
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLIENT = os.environ.get("CANDIDATE_CLIENT", "aiohttp")
JSON = os.environ.get("CANDIDATE_JSON", "orjson")
UPSTREAM = os.environ.get("CANDIDATE_UPSTREAM", "http://127.0.0.1:18080")
UPSTREAM_KEY = os.environ.get("CANDIDATE_UPSTREAM_KEY", "sk-upstream-bench")
POOL_SIZE = 256

# The member keys the prototype accepts (the real gateway uses keyed hashes).
MEMBER_KEYS = {b"Bearer sk-bench": "bench", b"Bearer vgk_bench": "bench"}

if JSON == "orjson":
    import orjson

    loads: Callable[[bytes], Any] = orjson.loads

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

elif JSON == "json":
    loads = json.loads

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

else:
    raise SystemExit(f"CANDIDATE_JSON must be orjson or json, not {JSON!r}")


class UpstreamResponse:
    """What the proxy needs of an upstream response, whichever client produced it."""

    def __init__(
        self,
        status: int,
        content_type: bytes,
        body: bytes | None,
        chunks: AsyncIterator[bytes] | None,
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body
        self.chunks = chunks


class AiohttpUpstream:
    """aiohttp ClientSession with a pooled keep-alive TCPConnector."""

    def __init__(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(limit=POOL_SIZE, ttl_dns_cache=300)
        self.session = aiohttp.ClientSession(
            base_url=UPSTREAM,
            connector=connector,
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=600, sock_connect=10),
        )

    async def post(self, path: str, body: bytes, stream: bool) -> UpstreamResponse:
        headers = {"Authorization": f"Bearer {UPSTREAM_KEY}", "Content-Type": "application/json"}
        resp = await self.session.post(path, data=body, headers=headers)
        content_type = resp.headers.get("Content-Type", "application/json").encode()
        if stream and resp.status == 200:
            return UpstreamResponse(resp.status, content_type, None, self._iterate(resp))
        payload = await resp.read()
        resp.release()
        return UpstreamResponse(resp.status, content_type, payload, None)

    @staticmethod
    async def _iterate(resp: Any) -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
        finally:
            resp.release()


class HttpxUpstream:
    """httpx.AsyncClient with a keep-alive connection pool."""

    def __init__(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            base_url=UPSTREAM,
            limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
            timeout=httpx.Timeout(600, connect=10),
        )

    async def post(self, path: str, body: bytes, stream: bool) -> UpstreamResponse:
        headers = {"Authorization": f"Bearer {UPSTREAM_KEY}", "Content-Type": "application/json"}
        request = self.client.build_request("POST", path, content=body, headers=headers)
        resp = await self.client.send(request, stream=True)
        content_type = resp.headers.get("content-type", "application/json").encode()
        if stream and resp.status_code == 200:
            return UpstreamResponse(resp.status_code, content_type, None, self._iterate(resp))
        payload = await resp.aread()
        await resp.aclose()
        return UpstreamResponse(resp.status_code, content_type, payload, None)

    @staticmethod
    async def _iterate(resp: Any) -> AsyncIterator[bytes]:
        try:
            async for chunk in resp.aiter_raw():
                yield chunk
        finally:
            await resp.aclose()


def _error(status: int, message: str, code: str) -> tuple[int, bytes]:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return status, dumps(body)


class Proxy:
    """The ASGI app: one function per step, no routing framework."""

    def __init__(self) -> None:
        self.upstream: AiohttpUpstream | HttpxUpstream | None = None
        self.tokens_out = 0  # stands in for accounting

    def _client(self) -> AiohttpUpstream | HttpxUpstream:
        # Built lazily inside the server's event loop (not every server runs lifespan).
        if self.upstream is None:
            self.upstream = AiohttpUpstream() if CLIENT == "aiohttp" else HttpxUpstream()
        return self.upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        auth = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
                break
        if MEMBER_KEYS.get(auth) is None:
            await _respond(send, *_error(401, "Incorrect API key provided.", "invalid_api_key"))
            return
        body = await _read_body(receive)
        try:
            request = loads(body)
        except ValueError:
            await _respond(send, *_error(400, "The body is not valid JSON.", "invalid_json"))
            return
        if not isinstance(request, dict) or not isinstance(request.get("model"), str):
            await _respond(send, *_error(400, "A model is required.", "missing_model"))
            return
        stream = request.get("stream") is True
        resp = await self._client().post(scope["path"], body, stream)
        if resp.chunks is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [(b"content-type", resp.content_type)],
                }
            )
            async for chunk in resp.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        assert resp.body is not None
        if resp.status == 200:
            usage = loads(resp.body).get("usage") or {}
            self.tokens_out += usage.get("completion_tokens", 0)
        await _respond(send, resp.status, resp.body, resp.content_type)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body  # the common case: one message, no copy
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def _respond(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


app = Proxy()
