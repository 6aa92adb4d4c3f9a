"""The data plane: every ``/v1/*`` request runs the stages in the order of :meth:`DataPlane.handle`.

1 read → 2 authn → 3 authz → 4 admit → 5 protect → 6 forward → 7 restore → 8 account → 9 audit.
Each stage is a small module of this package; stages refuse by raising :class:`GatewayError`,
and the answer is then an OpenAI-shaped error. No stage touches the database: keys and
providers come from the in-memory snapshot. (9, audit: data-plane requests are recorded by
``account``; control-plane changes are audited in their own transaction by the services.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from vaultgate.gateway import account, admit, authn, protect, read
from vaultgate.gateway.asgi import Receive, Scope, Send, send_response
from vaultgate.gateway.authn import CanaryAlarm
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange, Headers, RequestIds
from vaultgate.gateway.read import Networks
from vaultgate.gateway.relay import relay_stream, relay_whole
from vaultgate.gateway.routing import choose
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.keys.hashing import TokenHasher
from vaultgate.limits.admission import Limiter
from vaultgate.policy.decide import Denial, RequestFacts, decide, holder_denial
from vaultgate.policy.grants import KeyGrant
from vaultgate.privacy import hygiene
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.upstream.config import ProviderKind
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamError, UpstreamResponse
from vaultgate.usage.pricing import PriceTable
from vaultgate.usage.recorder import UsageRecorder

# Stores a short-lived token for a grant and returns the JSON answer (raises GatewayError on bad input).
TokenIssuer = Callable[[KeyGrant, dict[str, Any]], Awaitable[bytes]]


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
        limiter: Limiter | None = None,
        prices: PriceTable | None = None,
        privacy: PrivacyGuard | None = None,
        on_canary: CanaryAlarm = lambda key_id, ex: None,
        issue_token: TokenIssuer | None = None,
        trusted_proxies: Networks = (),
    ) -> None:
        self._snapshot = snapshot
        self._hasher = hasher
        self._adapters = adapters
        self._usage = usage
        self._max_body = max_body_bytes
        self._clock = clock
        self._limiter = limiter
        self._prices = prices if prices is not None else (limiter.prices if limiter is not None else None)
        self._privacy = privacy if privacy is not None else PrivacyGuard()
        self._on_canary = on_canary
        self._issue_token = issue_token
        self._proxies = trusted_proxies
        self._request_ids = RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = read.start(scope, self._proxies, self._request_ids())
        try:
            await self.handle(ex, receive, send)
        except GatewayError as err:
            ex.status, ex.error_code = err.status, err.code
            headers = [(b"x-request-id", ex.request_id.encode()), *err.headers]
            await send_response(send, err.status, err.body(), headers)
        finally:
            await admit.settle(self._limiter, ex)  # 8 account: limits settle with the real usage
            record = account.usage_record(ex, self._clock(), self._prices)
            if record is not None:
                self._usage.record(record)

    async def handle(self, ex: Exchange, receive: Receive, send: Send) -> None:
        """The stage order, in one place."""
        read.check_route(ex)  # 1 read
        await read.read(ex, receive, self._max_body)
        read.model_of_path(ex)
        snapshot = self._snapshot()
        ex.grant = authn.authenticate(ex, snapshot, self._hasher, self._on_canary)  # 2 authn
        if ex.path == read.TOKENS_PATH:  # a credential exchange, not an API call
            await self.exchange_token(ex, snapshot, send)
            return
        self.authorize(ex, snapshot)  # 3 authz
        await admit.admit(self._limiter, ex)  # 4 admit
        await protect.protect(self._privacy, ex)  # 5 protect
        ex.provider = choose(snapshot, ex.model)
        response = await self.forward(ex)  # 6 forward
        await self.relay(ex, response, send)  # 7 restore; usage is read from the answer for 8

    def authorize(self, ex: Exchange, snapshot: Snapshot) -> None:
        """Stage 3: the policy decision (kill switches, expiry, IP, scope, model, team ceiling)."""
        assert ex.grant is not None
        facts = RequestFacts(ex.method, ex.path, ex.model, ex.client_ip)
        denial = decide(ex.grant, facts, self._clock(), lockdown=snapshot.lockdown)
        if denial is not None:
            raise GatewayError(denial.status, denial.code, denial.message, param=denial.param)

    async def exchange_token(self, ex: Exchange, snapshot: Snapshot, send: Send) -> None:
        """``POST /v1/vaultgate/tokens``: a member key buys a short-lived ``vgt_`` token with a subset of its rights."""
        grant = ex.grant
        assert grant is not None and ex.payload is not None
        denial = holder_denial(grant, self._clock(), lockdown=snapshot.lockdown)
        if denial is None and not grant.policy.allows_ip(ex.client_ip):
            denial = Denial(403, "ip_not_allowed", "Requests from this IP address are not allowed for this key.")
        if denial is not None:
            raise GatewayError(denial.status, denial.code, denial.message)
        if self._issue_token is None:
            raise GatewayError(404, "unknown_url", f"Unknown request URL: POST {ex.path}.")
        body = await self._issue_token(grant, ex.payload)
        ex.status = 200
        await send_response(send, 200, body, [(b"x-request-id", ex.request_id.encode())])

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
        """Stage 7: answer the client (JSON or SSE, placeholders restored); model lists are filtered."""
        headers = [(b"x-request-id", ex.request_id.encode()), *admit.headers(ex)]
        if ex.path == "/v1/models" and response.status == 200:
            await self._relay_models(ex, response, send, headers)
        elif ex.stream and response.status == 200:
            await relay_stream(ex, response, send, headers)
        else:
            await relay_whole(ex, response, send, headers)

    async def _relay_models(self, ex: Exchange, response: UpstreamResponse, send: Send, headers: Headers) -> None:
        """The upstream's model list, narrowed to what the key may use."""
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
