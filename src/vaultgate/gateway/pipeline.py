"""The data plane: every ``/v1/*`` request runs the stages in the order of :meth:`DataPlane.handle`.

1 read (route) → 2 authn (headers only) → 1 read (body) → 3 authz → 4 admit → 5 protect
→ 6 forward → 7 restore → 8 account → 9 audit.
Each stage is a small module of this package; stages refuse by raising :class:`GatewayError`,
and the answer is then an OpenAI-shaped error; any other exception is answered as a 500 in
the same shape (in a stream already under way, as a final SSE error event). A Realtime
WebSocket runs stages 1-4 on its handshake, then is relayed (:meth:`DataPlane.websocket`). No stage touches
the database: keys and providers come from the in-memory snapshot. (9, audit: data-plane requests are recorded by
``account``; control-plane changes are audited in their own transaction by the services.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson

from vaultgate.gateway import account, admit, authn, protect, read, realtime, routing
from vaultgate.gateway.asgi import Receive, Scope, Send, send_response
from vaultgate.gateway.authn import CanaryAlarm
from vaultgate.gateway.body_deadlines import BodyDeadlines
from vaultgate.gateway.errors import INVALID_API_KEY_MESSAGE, GatewayError
from vaultgate.gateway.exchange import Exchange, Headers, RequestIds
from vaultgate.gateway.failure import ResponseTracker, answer_failure, internal_error, log_failure
from vaultgate.gateway.http_limits import HttpLimits
from vaultgate.gateway.read import Networks
from vaultgate.gateway.relay import read_whole, relay_bytes, relay_stream, relay_whole
from vaultgate.gateway.scrub import CredentialScrubber, ScrubberCache
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.gateway.streams import RunningRequests
from vaultgate.gateway.token_exchange import TokenExchange, TokenIssuer
from vaultgate.keys.hashing import TokenHasher
from vaultgate.limits.admission import Limiter
from vaultgate.policy.decide import Denial, RequestFacts, decide, holder_denial
from vaultgate.privacy import hygiene
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.upstream.config import Deployment, ProviderKind
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamError, UpstreamResponse
from vaultgate.usage.pricing import PriceTable
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
        limiter: Limiter | None = None,
        prices: PriceTable | None = None,
        privacy: PrivacyGuard | None = None,
        on_canary: CanaryAlarm = lambda key_id, ex: None,
        issue_token: TokenIssuer | None = None,
        trusted_proxies: Networks = (),
        token_exchange_rpm: int = 20,
        http_limits: HttpLimits | None = None,
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
        self._exchange_token = TokenExchange(issue_token, limiter, token_exchange_rpm, clock)
        self._proxies = trusted_proxies
        limits = http_limits if http_limits is not None else HttpLimits()
        self._body_deadlines = BodyDeadlines(limits.body_idle_timeout, limits.body_timeout)
        self._request_ids = RequestIds()
        self._running = RunningRequests(self._still_allowed, snapshot)
        self._scrubbers = ScrubberCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = read.start(scope, self._proxies, self._request_ids())
        tracker = ResponseTracker(send)
        try:
            await self.handle(ex, scope["headers"], receive, tracker)
        except GatewayError as err:
            ex.status, ex.error_code = err.status, err.code
            await answer_failure(tracker, err, self._error_headers(ex, err))
        except Exception as exc:  # answered and logged (type and frames, no message), not swallowed
            failure = internal_error()
            ex.status, ex.error_code = failure.status, failure.code
            log_failure("/v1", ex.request_id, exc)
            await answer_failure(
                tracker, failure, [(b"x-request-id", ex.request_id.encode()), (b"connection", b"close")]
            )
        finally:
            await admit.settle(self._limiter, ex)  # 8 account: limits settle with the real usage
            record = account.usage_record(ex, self._clock(), self._prices)
            if record is not None:
                self._usage.record(record)

    @staticmethod
    def _error_headers(ex: Exchange, err: GatewayError) -> Headers:
        """The refusal's headers; ``connection: close`` when the body may not have been read, so the
        server does not go on reading (and discarding) what the client still sends."""
        headers = [(b"x-request-id", ex.request_id.encode()), *err.headers]
        if ex.payload is None and ex.method == "POST":
            headers.append((b"connection", b"close"))
        return headers

    async def handle(self, ex: Exchange, raw_headers: Headers, receive: Receive, send: Send) -> None:
        """The stage order, in one place. The key is checked on the headers alone, before any body is read."""
        read.check_route(ex)  # 1 read: the route
        snapshot = self._snapshot()
        ex.grant = authn.authenticate(ex, raw_headers, snapshot, self._hasher, self._on_canary)  # 2 authn
        body_receive = self._body_deadlines.receive(receive)
        try:
            await read.read(ex, body_receive, self._max_body)  # 1 read: the body, only for a known key
        finally:
            body_receive.stop()
        read.model_of_path(ex)
        if ex.path == read.TOKENS_PATH:  # a credential exchange, not an API call
            await self._exchange_token(ex, snapshot, send)
            return
        self.authorize(ex, snapshot)  # 3 authz
        await admit.admit(self._limiter, ex)  # 4 admit
        await protect.protect(self._privacy, ex)  # 5 protect
        deployment = routing.candidates(snapshot, ex.model, ex.grant.policy)[0]
        ex.provider = deployment.provider
        # A kill switch, or the client hanging up, ends it in flight (streams.py).
        async with self._running.watch(ex, send, receive) as running:
            response = await self.forward(ex, deployment)  # 6 forward
            await self.relay(ex, response, running.send)  # 7 restore; usage is read from the answer for 8

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A Realtime session: stages 1-4 on the handshake, then the proxied session (gateway/realtime.py).

        The method is ``WEBSOCKET`` for the stages: not a read, so the ``realtime`` scope needs write.
        """
        ex = read.start(realtime.http_scope(scope), self._proxies, self._request_ids())
        ex.method, ex.stream = "WEBSOCKET", True  # a session is a stream: a kill switch ends it at any time
        session = realtime.SessionSend(send)
        try:
            if (await receive())["type"] != "websocket.connect":
                return
            read.check_route(ex)  # 1 read: the template and its forwarded query (model)
            ex.model = self._query_model(ex)
            realtime.credential_from_subprotocol(ex, scope)
            snapshot = self._snapshot()
            ex.grant = authn.authenticate(ex, scope["headers"], snapshot, self._hasher, self._on_canary)  # 2
            self.authorize(ex, snapshot)  # 3 authz: scope realtime (write), model allowlist, IP
            await admit.admit(self._limiter, ex)  # 4 admit: one concurrency slot for the whole session
            deployment = routing.candidates(snapshot, ex.model, ex.grant.policy)[0]
            ex.provider = deployment.provider
            assert ex.target is not None
            request = ProxyRequest(
                method="GET",
                endpoint=ex.target.endpoint.name,
                path=ex.target.upstream_path(),
                query=ex.query,
                headers=hygiene.forwarded_headers(ex.headers),
                body=b"",
                model=ex.model,
                stream=True,
            )
            async with self._running.watch(ex, session) as running:
                try:
                    upstream = await self._adapters[deployment.provider.kind].realtime(deployment.provider, request)
                except UpstreamError as exc:
                    raise GatewayError(exc.status, exc.code, str(exc)) from None
                await send({"type": "websocket.accept", "subprotocol": realtime.subprotocol(scope)})
                running.started, ex.status = True, 101
                scrub = self._scrubbers.for_providers(self._snapshot().providers)
                await realtime.relay(ex, upstream, receive, session, scrub)
            if not session.closed:
                await send({"type": "websocket.close", "code": realtime.CLOSE_NORMAL})
        except GatewayError as err:
            ex.status, ex.error_code = err.status, err.code
            if ex.status == 101 or ex.error_code == "stream_revoked":
                await session.close_with(err.code, err.message)
            else:
                await realtime.refuse(scope, send, err, [(b"x-request-id", ex.request_id.encode())])
        except UpstreamError as exc:  # the upstream session broke
            ex.status, ex.error_code = exc.status, "upstream_stream_broken"
            await session.close_with("upstream_stream_broken", "The upstream session broke off.")
        finally:
            await admit.settle(self._limiter, ex)
            record = account.usage_record(ex, self._clock(), self._prices)
            if record is not None:
                self._usage.record(record)

    @staticmethod
    def _query_model(ex: Exchange) -> str | None:
        """The model a Realtime session names in its query (``?model=…``)."""
        models = [v for k, v in parse_qsl(ex.query.decode("latin-1")) if k == "model"]
        return models[0] if len(models) == 1 else None

    def snapshot_swapped(self, snapshot: Snapshot) -> None:
        """The refresher swapped in ``snapshot``: end the requests in flight it no longer allows."""
        self._running.recheck(snapshot)

    def _still_allowed(self, ex: Exchange, snapshot: Snapshot) -> Denial | None:
        """Why a request in flight must end under ``snapshot`` (None: it may go on): its credential (by the
        keyed hash authn found it under) must still be there, and its holder still allowed."""
        grant = snapshot.grant(ex.credential_hash) if ex.credential_hash else None
        if grant is None:  # revoked, rotated past its grace, its parent key gone
            return Denial(401, "invalid_api_key", INVALID_API_KEY_MESSAGE)
        return holder_denial(grant, self._clock(), lockdown=snapshot.lockdown)

    def authorize(self, ex: Exchange, snapshot: Snapshot) -> None:
        """Stage 3: the policy decision (kill switches, expiry, then the one effective policy: IP, scope, model)."""
        assert ex.grant is not None
        endpoint = ex.target.endpoint if ex.target is not None else None
        facts = RequestFacts(
            ex.method,
            ex.path,
            ex.model,
            ex.client_ip,
            group=endpoint.group if endpoint is not None else None,
            takes_model=endpoint is not None and endpoint.takes_model,
        )
        denial = decide(ex.grant, facts, self._clock(), lockdown=snapshot.lockdown)
        if denial is not None:
            raise GatewayError(denial.status, denial.code, denial.message, param=denial.param)

    async def forward(self, ex: Exchange, deployment: Deployment) -> UpstreamResponse:
        """Stage 6: the provider adapter sends the request to one deployment with the vault-held key."""
        provider, target = deployment.provider, ex.target
        assert target is not None
        model = deployment.model if deployment.model is not None else ex.model
        request = ProxyRequest(  # from the template and its validated parameters, never the client's path
            method=ex.method,
            endpoint=target.endpoint.name,
            path=target.upstream_path(),
            query=ex.query,
            headers=hygiene.forwarded_headers(ex.headers, multipart=target.endpoint.multipart),
            body=ex.forward_body(model),
            model=model,
            stream=ex.stream,
        )
        try:
            return await self._adapters[provider.kind].send(provider, request)
        except UpstreamError as exc:
            raise GatewayError(exc.status, exc.code, str(exc)) from None

    async def relay(self, ex: Exchange, response: UpstreamResponse, send: Send) -> None:
        """Stage 7: answer the client (JSON or SSE, placeholders restored, credentials cut); model lists filtered."""
        headers = [(b"x-request-id", ex.request_id.encode()), *admit.headers(ex)]
        scrub = self._scrubbers.for_providers(self._snapshot().providers)
        if ex.provider is not None and ex.provider.api_key and ex.provider.api_key not in scrub.secrets:
            scrub = CredentialScrubber({*scrub.secrets, ex.provider.api_key})  # its credential went while in flight
        if ex.path == "/v1/models" and response.status == 200:
            await self._relay_models(ex, response, send, headers, scrub)
        elif ex.stream and response.status == 200:
            await relay_stream(ex, response, send, headers, scrub)
        elif ex.target is not None and ex.target.endpoint.byte_answer and 200 <= response.status < 300:
            await relay_bytes(ex, response, send, headers, scrub)
        else:
            await relay_whole(ex, response, send, headers, scrub)

    async def _relay_models(
        self, ex: Exchange, response: UpstreamResponse, send: Send, headers: Headers, scrub: CredentialScrubber
    ) -> None:
        """The upstream's model list, narrowed to what the key may use."""
        assert ex.grant is not None
        try:
            document = orjson.loads(scrub.scrub(await read_whole(response)))
        except orjson.JSONDecodeError:
            raise GatewayError(502, "upstream_error", "The upstream returned an unreadable model list.") from None
        policy = ex.grant.policy
        data = document.get("data") if isinstance(document, dict) else None
        if isinstance(data, list):
            document["data"] = [m for m in data if isinstance(m, dict) and policy.allows_model(str(m.get("id", "")))]
        ex.status = 200
        await send_response(send, 200, orjson.dumps(document), headers)
