"""The data plane: every ``/v1/*`` request runs the stages in the order of :meth:`DataPlane.handle`.

1 read → 2 authn → 3 authz → 4 admit → 5 protect → 6 forward → 7 restore → 8 account → 9 audit.
Stages refuse by raising :class:`GatewayError`; the answer is then an OpenAI-shaped error.
No stage touches the database: keys and providers come from the in-memory snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import orjson

from vaultgate.gateway import authn, read
from vaultgate.gateway.asgi import Receive, Scope, Send, send_response
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.relay import relay_stream, relay_whole
from vaultgate.gateway.routing import choose
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.keys.hashing import TokenHasher
from vaultgate.policy.decide import RequestFacts, decide
from vaultgate.privacy import hygiene
from vaultgate.upstream.config import ProviderKind
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamError, UpstreamResponse
from vaultgate.usage.events import UsageRecord
from vaultgate.usage.recorder import UsageRecorder


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DataPlane:
    """The ASGI app for ``/v1/*``."""

    def __init__(
        self,
        *,
        snapshot: Callable[[], Snapshot],
        hasher: TokenHasher,
        adapters: Mapping[ProviderKind, ProviderAdapter],
        usage: UsageRecorder,
        max_body_bytes: int,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._snapshot = snapshot
        self._hasher = hasher
        self._adapters = adapters
        self._usage = usage
        self._max_body = max_body_bytes
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = read.start(scope)
        try:
            await self.handle(ex, receive, send)
        except GatewayError as err:
            ex.status, ex.error_code = err.status, err.code
            headers = [(b"x-request-id", ex.request_id.encode()), *err.headers]
            await send_response(send, err.status, err.body(), headers)
        finally:
            self.account(ex)

    async def handle(self, ex: Exchange, receive: Receive, send: Send) -> None:
        """The stage order, in one place."""
        read.check_route(ex)  # 1 read
        await read.read(ex, receive, self._max_body)
        read.model_of_path(ex)
        snapshot = self._snapshot()
        ex.grant = authn.authenticate(ex, snapshot, self._hasher)  # 2 authn
        self.authorize(ex)  # 3 authz
        # 4 admit: rate limits and budgets join here (memory | Redis backends).
        self.protect(ex)  # 5 protect
        ex.provider = choose(snapshot, ex.model)
        response = await self.forward(ex)  # 6 forward
        await self.relay(ex, response, send)  # 7 restore (+ usage noted for 8 account)

    def authorize(self, ex: Exchange) -> None:
        """Stage 3: the policy decision (kill switch, expiry, IP, scope, model)."""
        assert ex.grant is not None
        denial = decide(ex.grant, RequestFacts(ex.method, ex.path, ex.model, ex.client_ip), self._clock())
        if denial is not None:
            raise GatewayError(denial.status, denial.code, denial.message, param=denial.param)

    def protect(self, ex: Exchange) -> None:
        """Stage 5: request hygiene (store:false, pseudonymous safety_identifier, usage for streams)."""
        assert ex.grant is not None
        payload = ex.payload
        if payload is None:
            return
        endpoint = ex.path[4:]
        if hygiene.apply(payload, endpoint, ex.grant.pseudonym, ex.grant.policy.allow_store):
            ex.body_changed = True
        if ex.stream and endpoint in ("chat/completions", "completions"):
            options = payload.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage")):
                # Ask upstream for usage; the extra chunk is stripped before the client sees it.
                payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
                ex.strip_usage_chunk = True
                ex.body_changed = True

    async def forward(self, ex: Exchange) -> UpstreamResponse:
        """Stage 6: the provider adapter sends the request with the vault-held key."""
        provider = ex.provider
        assert provider is not None
        request = ProxyRequest(
            method=ex.method,
            path=ex.path[3:],
            query=ex.query,
            headers=hygiene.forwarded_headers(ex.headers),
            body=ex.forward_body(),
            model=ex.model,
            stream=ex.stream,
        )
        try:
            return await self._adapters[provider.kind].send(provider, request)
        except UpstreamError as exc:
            raise GatewayError(exc.status, exc.code, str(exc)) from None

    async def relay(self, ex: Exchange, response: UpstreamResponse, send: Send) -> None:
        """Stage 7: answer the client (JSON or SSE); the model list is filtered by the key's allowlist."""
        headers = [(b"x-request-id", ex.request_id.encode())]
        if ex.path == "/v1/models" and response.status == 200:
            await self._relay_models(ex, response, send, headers)
        elif ex.stream and response.status == 200:
            await relay_stream(ex, response, send, headers)
        else:
            await relay_whole(ex, response, send, headers)

    async def _relay_models(
        self, ex: Exchange, response: UpstreamResponse, send: Send, headers: list[tuple[bytes, bytes]]
    ) -> None:
        assert ex.grant is not None
        try:
            document = orjson.loads(await response.read())
        except orjson.JSONDecodeError:
            raise GatewayError(502, "upstream_error", "The upstream returned an unreadable model list.") from None
        policy = ex.grant.policy
        data = document.get("data") if isinstance(document, dict) else None
        if isinstance(data, list):
            document["data"] = [m for m in data if isinstance(m, dict) and policy.allows_model(str(m.get("id", "")))]
        ex.status = 200
        await send_response(send, 200, orjson.dumps(document), headers)

    def account(self, ex: Exchange) -> None:
        """Stage 8: queue the request's metadata (never content) for the batched usage writer."""
        grant = ex.grant
        if grant is None:
            return  # unauthenticated: nobody to account to
        self._usage.record(
            UsageRecord(
                at=self._clock(),
                request_id=ex.request_id,
                member_id=grant.member_id,
                key_id=grant.key_id,
                provider=ex.provider.name if ex.provider else None,
                endpoint=ex.endpoint,
                model=ex.model,
                status=ex.status,
                error_code=ex.error_code,
                stream=ex.stream,
                prompt_tokens=ex.prompt_tokens,
                completion_tokens=ex.completion_tokens,
                latency_ms=round((time.perf_counter() - ex.started) * 1000, 3),
            )
        )
