"""The data plane: every ``/v1/*`` request runs the stages in the order of :meth:`DataPlane.handle`.

1 read (route) → 2 authn (headers only) → 1 read (body) → 3 authz → 4 admit → 5 protect
→ 5b ownership (object ids the request names; answers record new objects) → 6 forward
→ 7 restore → 8 account → 9 audit.
Each stage is a small module of this package; stages refuse by raising :class:`GatewayError`,
and the answer is then an OpenAI-shaped error; any other exception is answered as a 500 in
the same shape (in a stream already under way, as a final SSE error event). Each stage is
noted as it begins (``ex.enter``: a name and a time); once the request ended, its outcome
(gateway/outcome.py: no content) goes to the observers, metrics and traces. No stage touches
the database: keys and providers come from the in-memory snapshot (5b alone reads and writes
object owners, in worker threads, and only for requests that name or create an object).
A Realtime WebSocket runs the stages once on its handshake, then is relayed
(:meth:`DataPlane.websocket`). (9, audit: data-plane requests are recorded by ``account``; control-plane changes are
audited in their own transaction by the services.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial

import orjson

from vaultgate.gateway import (
    account,
    admit,
    authn,
    endpoints,
    model_list,
    ownership,
    protect,
    read,
    realtime,
    routing,
    security_events,
)
from vaultgate.gateway.asgi import Receive, Scope, Send, send_response
from vaultgate.gateway.authn import CanaryAlarm
from vaultgate.gateway.body_deadlines import BodyDeadlines
from vaultgate.gateway.errors import INVALID_API_KEY_MESSAGE, GatewayError
from vaultgate.gateway.exchange import Exchange, Headers, RequestIds
from vaultgate.gateway.failover import Failover
from vaultgate.gateway.failure import ResponseTracker, answer_failure, internal_error, log_failure
from vaultgate.gateway.http_limits import HttpLimits
from vaultgate.gateway.object_directory import ObjectDirectory
from vaultgate.gateway.outcome import Outcome, outcome_of
from vaultgate.gateway.read import Networks
from vaultgate.gateway.relay import DEFAULT_MAX_EVENT_BYTES, read_whole, relay_bytes, relay_stream, relay_whole
from vaultgate.gateway.scrub import CredentialScrubber, ScrubberCache
from vaultgate.gateway.security_events import SecurityEvents
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.gateway.streams import SHUTTING_DOWN, RunningRequests
from vaultgate.gateway.token_exchange import TokenExchange, TokenIssuer
from vaultgate.gateway.whoami import Whoami
from vaultgate.keys.hashing import TokenHasher
from vaultgate.limits.admission import Limiter
from vaultgate.policy.decide import Denial, RequestFacts, decide, holder_denial
from vaultgate.privacy import hygiene
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.modes import PrivacyPolicy
from vaultgate.upstream.config import Deployment, ProviderKind
from vaultgate.upstream.interface import ProviderAdapter, ProxyRequest, UpstreamError, UpstreamResponse
from vaultgate.usage.events import UsageRecord
from vaultgate.usage.pricing import PriceTable
from vaultgate.usage.recorder import UsageRecorder

_NO_CREDENTIALS: frozenset[str] = frozenset()
# Sees every finished request's outcome (metrics, traces): names, numbers and codes, never content.
Observer = Callable[[Outcome], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _no_alarm(key_id: str, ex: Exchange) -> None:
    """Without hooks (tests of the plane alone), a canary is refused like an unknown key and nothing else."""


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
        on_canary: CanaryAlarm = _no_alarm,
        issue_token: TokenIssuer | None = None,
        trusted_proxies: Networks = (),
        token_exchange_rpm: int = 20,
        http_limits: HttpLimits | None = None,
        failover: Failover | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        objects: ObjectDirectory | None = None,
        staleness: Callable[[], float] | None = None,
        max_staleness: float = 30.0,
        observers: Sequence[Observer] = (),
        security: SecurityEvents | None = None,
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
        self._whoami = Whoami(clock)
        self._proxies = trusted_proxies
        limits = http_limits if http_limits is not None else HttpLimits()
        self._body_deadlines = BodyDeadlines(limits.body_idle_timeout, limits.body_timeout)
        self._request_ids = RequestIds()
        self._running = RunningRequests(self._still_allowed, snapshot)
        self._scrubbers = ScrubberCache()
        self._failover = failover if failover is not None else Failover()
        self._max_event_bytes = max_event_bytes
        # Who owns each stored object (server.py wires the store; alone, a directory in memory).
        self._ownership = ownership.Ownership(objects if objects is not None else ObjectDirectory.in_memory())
        self._staleness = staleness
        self._max_staleness = max_staleness
        self._observers = tuple(observers)
        # Authentication failures and policy refusals, counted for the audit trail (drained by the hooks).
        self.security = security if security is not None else SecurityEvents()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = read.start(scope, self._proxies, self._request_ids())
        tracker = ResponseTracker(send)
        try:
            await self.handle(ex, scope["headers"], receive, tracker)
        except GatewayError as err:
            ex.status, ex.error_code = err.status, err.code
            await self._security_event(ex, err)  # counted (a canary: on record) before the client hears
            await answer_failure(tracker, err, self._error_headers(ex, err))
        except Exception as exc:  # answered and logged (type and frames, no message), not swallowed
            failure = internal_error()
            ex.status, ex.error_code = failure.status, failure.code
            log_failure("/v1", ex.request_id, exc)
            await answer_failure(
                tracker, failure, [(b"x-request-id", ex.request_id.encode()), (b"connection", b"close")]
            )
        finally:
            ex.enter("account")
            await admit.settle(self._limiter, ex)  # 8 account: limits settle with the real usage
            record = account.usage_record(ex, self._clock(), self._prices, self._hasher)
            if record is not None:
                self._usage.record(record)
            self._observe(ex, record)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A realtime session over WebSocket: the stages of :meth:`handle` once, then events relayed.

        The upgrade is accepted only after the upstream session is open, so every refusal up to
        there is an HTTP answer in OpenAI's shape (gateway/realtime.py).
        """
        # The method is WEBSOCKET for the stages: not a read, so the ``realtime`` scope needs write.
        ex = read.start({**scope, "method": "WEBSOCKET"}, self._proxies, self._request_ids())
        ex.stream = True  # a kill switch ends it like a stream
        client = realtime.ClientSocket(scope, receive, send)
        if not await client.connected():
            return
        try:
            read.check_route(ex)  # 1 read: the route
            if ex.target is None or ex.target.endpoint is not endpoints.REALTIME:
                raise endpoints.unknown_url("GET", ex.path)
            snapshot = self._snapshot()
            ex.enter("authn")
            self._check_fresh()  # 2 authn: keys judged on a confirmed snapshot only
            realtime.credential_from_subprotocol(ex, scope)  # browsers send the key as a subprotocol
            ex.grant = authn.authenticate(ex, scope["headers"], snapshot, self._hasher)  # 2 authn
            ex.model = realtime.model_of(ex.query)
            ex.enter("authz")
            self.authorize(ex, snapshot)  # 3 authz
            ex.enter("admit")
            await admit.admit(self._limiter, ex)  # 4 admit: one request, one slot for the session
            policy = protect.privacy_policy(ex)  # 5 protect: applied to each event in the session
            deployment = routing.candidates(snapshot, ex.model, ex.grant.policy)[0]
            ex.provider = deployment.provider
            ex.enter("session")  # 6 and 7: connected upstream, then relayed until either side ends it
            async with self._running.track(ex) as running:
                await self._run_session(ex, deployment, client, policy)  # 6 forward, 7 relay
            if running.ended_by is not None:
                ex.status, ex.error_code = running.ended_by.status, realtime.end_code(running.ended_by)
                await realtime.end_revoked(client, running.ended_by)
        except GatewayError as err:
            ex.status, ex.error_code = err.status, err.code
            await self._security_event(ex, err)
            await client.refuse(err, [(b"x-request-id", ex.request_id.encode())])
        except Exception as exc:  # logged (type and frames, no message), answered, not swallowed silently
            failure = internal_error()
            ex.status, ex.error_code = failure.status, failure.code
            log_failure("/v1/realtime", ex.request_id, exc)
            await client.refuse(failure, [(b"x-request-id", ex.request_id.encode())])
        finally:
            ex.enter("account")
            await admit.settle(self._limiter, ex)  # 8 account
            record = account.usage_record(ex, self._clock(), self._prices, self._hasher)
            if record is not None:
                self._usage.record(record)
            self._observe(ex, record)

    async def _security_event(self, ex: Exchange, err: GatewayError) -> None:
        """Keep a refusal for the audit trail: a bad credential or a policy refusal is counted (one
        dictionary update); a canary's use is audited, and the 401 waits until it is on record."""
        if isinstance(err, authn.CredentialRefused):
            if err.reason == authn.CANARY:
                await self._on_canary(err.credential, ex)
            else:
                source = str(ex.client_ip) if ex.client_ip is not None else "unknown"
                self.security.auth_failure(err.credential, source, err.reason)
        elif ex.grant is not None and security_events.is_policy_refusal(err.status, err.code):
            self.security.refusal(ex.grant.key_id, err.code)

    def _observe(self, ex: Exchange, record: UsageRecord | None) -> None:
        """Hand the request's outcome to the observers (metrics, traces)."""
        if self._observers:
            done = outcome_of(ex, record, self._prices, self._snapshot().routes.exact)
            for observe in self._observers:
                observe(done)

    async def _run_session(
        self, ex: Exchange, deployment: Deployment, client: realtime.ClientSocket, policy: PrivacyPolicy
    ) -> None:
        provider = deployment.provider
        model = deployment.model if deployment.model is not None else ex.model
        assert model is not None
        try:
            upstream = await self._adapters[provider.kind].connect_realtime(provider, model, b"")
        except UpstreamError as exc:
            raise realtime.upstream_refusal(exc) from None
        scrub = self._scrubbers.for_providers(self._snapshot().providers, self._live_credentials())
        await client.accept()
        ex.status = 200
        session = realtime.Session(ex, client, upstream, scrub, self._privacy, policy, self._max_body)
        try:
            await session.run()
        except UpstreamError as exc:
            ex.status, ex.error_code = exc.status, exc.code
            await client.close(realtime.CLOSE_UPSTREAM, exc.code)
            return
        await client.close(realtime.CLOSE_NORMAL)

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
        ex.enter("authn")
        self._check_fresh()  # 2 authn: keys judged on a confirmed snapshot only
        ex.grant = authn.authenticate(ex, raw_headers, snapshot, self._hasher)  # 2 authn
        ex.enter("read")
        body_receive = self._body_deadlines.receive(receive)
        try:
            await read.read(ex, body_receive, self._max_body)  # 1 read: the body, only for a known key
        finally:
            body_receive.stop()
        read.model_of_path(ex)
        if ex.path == read.TOKENS_PATH:  # a credential exchange, not an API call
            ex.enter("token_exchange")
            await self._exchange_token(ex, snapshot, send)
            return
        if ex.path == read.WHOAMI_PATH:  # the credential's own identity, not an API call
            ex.enter("whoami")
            await self._whoami(ex, snapshot, send)
            return
        ex.enter("authz")
        self.authorize(ex, snapshot)  # 3 authz
        ex.enter("admit")
        await admit.admit(self._limiter, ex)  # 4 admit
        ex.enter("protect")
        await protect.protect(self._privacy, ex)  # 5 protect
        ex.enter("ownership")
        await self._ownership.check(ex)  # 5b ownership: every object named must be the caller's (404)
        # An object lives at one provider: a request naming one is pinned there (no failover elsewhere).
        deployments = ownership.pin(snapshot, ex, routing.candidates(snapshot, ex.model, ex.grant.policy))
        ex.provider = deployments[0].provider
        # A kill switch, or the client hanging up, ends it in flight (streams.py), also while waiting to retry.
        async with self._running.watch(ex, send, receive) as running:
            # 6 forward: retries, failover along the deployments, circuit breakers (failover.py)
            ex.enter("upstream")
            response = await self._failover.forward(ex, deployments, partial(self.forward, ex))
            # 7 restore; new objects recorded before the client sees them; usage is read for 8
            ex.enter("restore")
            await self.relay(ex, response, self._ownership.watch(ex, running.send))

    def end_running(self) -> int:
        """End every request still in flight: a graceful shutdown's drain time is up; how many."""
        return self._running.end_all(SHUTTING_DOWN)

    def _check_fresh(self) -> None:
        """503 ``snapshot_stale`` when the store has not confirmed this replica's keys for too long."""
        if self._staleness is not None and self._staleness() > self._max_staleness:
            raise authn.stale_snapshot(self._max_staleness)

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
            if denial.status == 401:  # expired or not yet valid: the same 401 as an unknown key
                raise authn.refused(ex.grant.key_id, security_events.EXPIRED)
            raise GatewayError(denial.status, denial.code, denial.message, param=denial.param)

    async def forward(self, ex: Exchange, deployment: Deployment) -> UpstreamResponse:
        """Stage 6, one attempt: the provider adapter sends the request to one deployment with the vault-held
        key; UpstreamError when it fails (the failover loop decides what follows)."""
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
        return await self._adapters[provider.kind].send(provider, request)

    async def relay(self, ex: Exchange, response: UpstreamResponse, send: Send) -> None:
        """Stage 7: answer the client (JSON or SSE, placeholders restored, credentials cut); model lists filtered."""
        headers = [(b"x-request-id", ex.request_id.encode()), *admit.headers(ex)]
        scrub = self._scrubbers.for_providers(self._snapshot().providers, self._live_credentials())
        if ex.provider is not None and ex.provider.api_key and ex.provider.api_key not in scrub.secrets:
            scrub = CredentialScrubber({*scrub.secrets, ex.provider.api_key})  # its credential went while in flight
        if ex.path == "/v1/models" and response.status == 200:
            await self._relay_models(ex, response, send, headers, scrub)
        elif ex.stream and response.status == 200:
            await relay_stream(ex, response, send, headers, scrub, self._max_event_bytes)
        elif ex.target is not None and ex.target.endpoint.byte_answer and 200 <= response.status < 300:
            await relay_bytes(ex, response, send, headers, scrub)
        else:
            await relay_whole(ex, response, send, headers, scrub)

    def _live_credentials(self) -> frozenset[str]:
        """Credentials the adapters minted and may be using (Entra ID access tokens); usually none."""
        live = [credentials for a in self._adapters.values() if (credentials := a.live_credentials())]
        if not live:
            return _NO_CREDENTIALS
        return live[0] if len(live) == 1 else frozenset().union(*live)

    async def _relay_models(
        self, ex: Exchange, response: UpstreamResponse, send: Send, headers: Headers, scrub: CredentialScrubber
    ) -> None:
        """The upstream's model list with the route aliases, narrowed to what the key may use (model_list.py)."""
        assert ex.grant is not None
        try:
            document = orjson.loads(scrub.scrub(await read_whole(response)))
        except orjson.JSONDecodeError:
            raise GatewayError(
                502, "upstream_invalid_response", "The upstream returned an unreadable model list."
            ) from None
        document = model_list.narrowed(document, self._snapshot(), ex.grant.policy)
        ex.status = 200
        await send_response(send, 200, orjson.dumps(document), headers)
