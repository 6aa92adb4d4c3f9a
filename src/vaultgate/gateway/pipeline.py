"""The data plane: every ``/v1/*`` request runs the stages in the order of :meth:`DataPlane.handle`.

1 read → 2 authn → 3 authz → 4 admit → 5 protect → 6 forward → 7 restore → 8 account → 9 audit.
Stages refuse by raising :class:`GatewayError`; the answer is then an OpenAI-shaped error.
No stage touches the database: keys and providers come from the in-memory snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from vaultgate.gateway import authn, read
from vaultgate.gateway.asgi import Receive, Scope, Send, send_response
from vaultgate.gateway.authn import CanaryAlarm
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.read import Networks
from vaultgate.gateway.relay import relay_stream, relay_whole
from vaultgate.gateway.routing import choose
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.keys.hashing import TokenHasher
from vaultgate.limits.admission import Limiter, LimitRefused, ModelNotPriced, rate_limit_headers, retry_headers
from vaultgate.limits.interface import LimitsUnavailable
from vaultgate.policy.decide import Denial, RequestFacts, decide, holder_denial
from vaultgate.policy.grants import KeyGrant
from vaultgate.privacy import hygiene
from vaultgate.privacy.errors import PrivacyRefusal
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.policy import DEFAULT_POLICY, PrivacyPolicy
from vaultgate.upstream.config import ProviderKind
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamError, UpstreamResponse
from vaultgate.usage.events import UsageRecord
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
        self._on_canary = on_canary
        self._issue_token = issue_token
        self._proxies = trusted_proxies
        self._snapshot = snapshot
        self._hasher = hasher
        self._adapters = adapters
        self._usage = usage
        self._max_body = max_body_bytes
        self._clock = clock
        self._limiter = limiter
        self._privacy = privacy if privacy is not None else PrivacyGuard()
        self._prices = prices if prices is not None else (limiter.prices if limiter is not None else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = read.start(scope, self._proxies)
        try:
            await self.handle(ex, receive, send)
        except GatewayError as err:
            ex.status, ex.error_code = err.status, err.code
            headers = [(b"x-request-id", ex.request_id.encode()), *err.headers]
            await send_response(send, err.status, err.body(), headers)
        finally:
            await self.settle(ex)
            self.account(ex)

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
        await self.admit(ex)  # 4 admit: rate limits, concurrency, budget reservation
        self.protect(ex)  # 5 protect
        ex.provider = choose(snapshot, ex.model)
        response = await self.forward(ex)  # 6 forward
        await self.relay(ex, response, send)  # 7 restore (+ usage noted for 8 account)

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

    async def admit(self, ex: Exchange) -> None:
        """Stage 4: charge the key, member and team limits (429 over a limit, 503 if they cannot be checked)."""
        grant = ex.grant
        assert grant is not None
        if self._limiter is None or grant.limits.empty:
            return
        try:
            ex.limit_ticket = await self._limiter.admit(
                grant.limits, (grant.key_id, grant.member_id, grant.team_id), ex.request_id, ex.model, ex.payload
            )
        except LimitRefused as refused:
            raise _refusal(refused) from None
        except ModelNotPriced:
            raise GatewayError(
                400,
                "model_not_priced",
                f"The model {ex.model!r} has no price in vaultgate's price table, so this key's budget cannot "
                "be enforced for it. Ask your vaultgate admin to add it to the price table.",
                param="model",
            ) from None
        except LimitsUnavailable:
            raise GatewayError(
                503,
                "limits_unavailable",
                "vaultgate cannot check this key's rate limits and budgets right now (the limits backend is "
                "unreachable), so the request was not sent upstream. Retry shortly.",
            ) from None

    async def settle(self, ex: Exchange) -> None:
        """Stage 8 (limits): release the concurrency lease, put real tokens and cost in place of estimates."""
        ticket, ex.limit_ticket = ex.limit_ticket, None
        if ticket is not None and self._limiter is not None:
            await self._limiter.settle(ticket, ex.status, ex.prompt_tokens, ex.completion_tokens)

    def protect(self, ex: Exchange) -> None:
        """Stage 5: request hygiene (store:false, pseudonymous safety_identifier, usage for streams)."""
        assert ex.grant is not None
        payload = ex.payload
        if payload is None:
            self.redact(ex)
            return
        endpoint = ex.path[4:]
        if hygiene.apply(payload, endpoint, ex.grant.pseudonym, ex.grant.policy.allow_store):
            ex.body_changed = True
        self.redact(ex)
        if ex.stream and endpoint in ("chat/completions", "completions"):
            options = payload.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage")):
                # Ask upstream for usage; the extra chunk is stripped before the client sees it.
                payload["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
                ex.strip_usage_chunk = True
                ex.body_changed = True

    def redact(self, ex: Exchange) -> None:
        """Stage 5 (privacy): secrets and personal data in body, path and query; 400 when the policy blocks."""
        assert ex.grant is not None
        policy = _privacy_policy(ex)
        try:
            rmap, changed, ex.path, ex.query = self._privacy.protect(ex.payload, ex.path, ex.query, policy)
        except PrivacyRefusal as refusal:
            raise GatewayError(400, refusal.code, refusal.message) from None
        ex.body_changed = ex.body_changed or changed
        ex.restorer = self._privacy.restorer(rmap, policy)

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
        if ex.limit_ticket is not None:
            headers += rate_limit_headers(ex.limit_ticket.admission)
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
                cost_usd=self._cost(ex),
                latency_ms=round((time.perf_counter() - ex.started) * 1000, 3),
            )
        )

    def _cost(self, ex: Exchange) -> float | None:
        """The request's list-price cost in USD from its usage (None: no usage or no price)."""
        if self._prices is None or (ex.prompt_tokens is None and ex.completion_tokens is None):
            return None
        price = self._prices.find(ex.model)
        if price is None:
            return None
        return price.usd(ex.prompt_tokens or 0, ex.completion_tokens or 0)


def _privacy_policy(ex: Exchange) -> PrivacyPolicy:
    """The key's privacy policy, else its team's (a ceiling's), else the defaults."""
    assert ex.grant is not None
    for policy in (ex.grant.policy, *ex.grant.ceilings):
        if policy.privacy is not None:
            return policy.privacy
    return DEFAULT_POLICY


_RATE_KINDS = {
    "requests": "requests per minute (RPM)",
    "tokens": "tokens per minute (TPM)",
    "concurrency": "concurrent requests",
}


def _refusal(refused: LimitRefused) -> GatewayError:
    """429 in OpenAI's shape: rate_limit_exceeded (retry after the window) or insufficient_quota (budget)."""
    adm = refused.admission
    if adm.reason == "budget":
        return GatewayError(
            429,
            "insufficient_quota",
            "This key, its member or its team has used its budget for the current period. "
            "Ask your vaultgate admin to raise it, or wait for the next period (UTC).",
            error_type="insufficient_quota",
            headers=[(b"x-should-retry", b"false")],
        )
    wait = f"{adm.retry_after:.3g}s" if adm.retry_after < 60 else f"{adm.retry_after / 60:.3g}m"
    return GatewayError(
        429,
        "rate_limit_exceeded",
        f"Rate limit reached for {_RATE_KINDS.get(adm.reason or '', 'requests')} on this key, its member or its "
        f"team. Please try again in {wait}.",
        headers=[*retry_headers(adm.retry_after), *rate_limit_headers(adm)],
    )
