"""The composition root: builds the control plane, the data plane and the admin API into one ASGI app."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable

import orjson
from starlette.requests import Request

from vaultgate import config
from vaultgate.collector import freeze_startup_objects
from vaultgate.gateway.asgi import ASGIApp, Receive, Scope, Send, send_response
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import new_request_id
from vaultgate.gateway.failover import Failover
from vaultgate.gateway.failure import ResponseTracker, answer_failure, internal_error, log_failure
from vaultgate.gateway.http_limits import HttpLimits, header_refusal
from vaultgate.gateway.lazy_app import LazyApp
from vaultgate.gateway.object_directory import ObjectDirectory
from vaultgate.gateway.pipeline import DataPlane
from vaultgate.gateway.read import Networks, source_text
from vaultgate.gateway.security_events import SecurityEvents
from vaultgate.gateway.snapshot import Refresher, Snapshot
from vaultgate.hooks import DataPlaneHooks
from vaultgate.identity.revocation import RevocationTimer
from vaultgate.identity.scim import PREFIX as SCIM_PREFIX
from vaultgate.limits.admission import Limiter
from vaultgate.limits.interface import LimiterBackend
from vaultgate.limits.memory import MemoryBackend
from vaultgate.logs import AccessLog, configure_logging
from vaultgate.metrics import CONTENT_TYPE, Metrics
from vaultgate.policy.grants import PolicyError, parse_network
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.services import objects, snapshot_loader, usage
from vaultgate.services.bootstrap import open_control_plane
from vaultgate.services.break_glass import BreakGlass
from vaultgate.services.context import ControlPlane
from vaultgate.services.retention import RetentionSchedule
from vaultgate.tracing import Tracing, tracing_from
from vaultgate.upstream.azure import AzureAdapter
from vaultgate.upstream.breaker import CircuitBreakers
from vaultgate.upstream.config import ProviderKind
from vaultgate.upstream.echo import EchoAdapter
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import ProviderAdapter
from vaultgate.upstream.openai import OpenAIAdapter
from vaultgate.upstream.retry import RetryPolicy
from vaultgate.usage.pricing import PriceTable
from vaultgate.usage.recorder import UsageRecorder
from vaultgate.usage.spool import Spool

log = logging.getLogger("vaultgate")


class Gateway:
    """Routes ``/v1`` to the data plane, ``/admin`` to the admin API, and runs the lifespan."""

    def __init__(
        self,
        data_plane: DataPlane,
        admin: ASGIApp,
        refresher: Refresher,
        client: UpstreamClient,
        recorder: UsageRecorder,
        limiter: Limiter | None = None,
        hooks: DataPlaneHooks | None = None,
        http_limits: HttpLimits | None = None,
    ) -> None:
        self.hooks = hooks
        self.retention: RetentionSchedule | None = None  # the daily usage purge (services/retention.py)
        # Read by vaultgate.serving's protocol, which enforces the head limits while parsing.
        self.http_limits = http_limits if http_limits is not None else HttpLimits()
        self._background: list[asyncio.Task[None]] = []
        self.data_plane = data_plane
        self.admin = admin
        self.console: ASGIApp | None = None  # the web console at /console (console/app.py)
        self.scim: ASGIApp | None = None  # SCIM provisioning at /scim/v2 (identity/scim/app.py)
        self.refresher = refresher
        self.client = client
        self.recorder = recorder
        self.limiter = limiter
        # Past this many seconds without reaching the store, keys are refused and /readyz says so.
        self.max_staleness = 30.0
        self.metrics: Metrics | None = None
        self.metrics_token: str | None = None
        self.tracing: Tracing | None = None
        # Seconds a graceful shutdown lets requests in flight finish before ending them.
        self.drain_timeout = 25.0
        self._drain: asyncio.TimerHandle | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            tracker = ResponseTracker(send)
            try:
                await self._route(scope, receive, tracker)
            except Exception as exc:  # whatever a plane let through: JSON, logged without its message
                request_id = new_request_id()
                log_failure(_plane(scope["path"]), request_id, exc)
                headers = [(b"x-request-id", request_id.encode()), (b"connection", b"close")]
                await answer_failure(tracker, internal_error(), headers)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket upgrades: realtime sessions under ``/v1``; anything else is closed unanswered."""
        if scope["path"].startswith("/v1/"):
            await self.data_plane.websocket(scope, receive, send)
            return
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close", "code": 1008, "reason": "unknown_url"})

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``/healthz`` first (it must answer while the planes are busy), then the planes by prefix."""
        path: str = scope["path"]
        if path == "/healthz":
            body = orjson.dumps({"status": "ok", "revision": self.refresher.current.revision})
            await send_response(send, 200, body, [])
            return
        if path == "/metrics" and self.metrics is not None:
            await self._serve_metrics(scope, send)
            return
        if path == "/readyz":
            ready, report = await self.readiness()
            await send_response(send, 200 if ready else 503, orjson.dumps(report), [])
            return
        refusal = header_refusal(scope["headers"], self.http_limits)
        if refusal is not None:  # under another ASGI server than vaultgate serve's, which refuses them earlier
            await send_response(send, refusal.status, refusal.body(), [(b"connection", b"close")])
        elif path.startswith(("/v1/", "/openai/")):  # /openai/: Azure-shaped clients (gateway/azure_paths.py)
            await self.data_plane(scope, receive, send)
        elif path.startswith("/admin"):
            await self.admin(scope, receive, send)
        elif self.console is not None and (path == "/console" or path.startswith("/console/")):
            await self.console(scope, receive, send)
        elif self.scim is not None and (path == SCIM_PREFIX or path.startswith(SCIM_PREFIX + "/")):
            await self.scim(scope, receive, send)
        else:
            err = GatewayError(404, "unknown_url", f"Unknown request URL: {scope['method']} {path}.")
            await send_response(send, 404, err.body(), [])

    async def _serve_metrics(self, scope: Scope, send: Send) -> None:
        """The Prometheus exposition; with ``VAULTGATE_METRICS_TOKEN`` set, only for that bearer token."""
        assert self.metrics is not None
        if self.metrics_token is not None:
            presented = dict(scope["headers"]).get(b"authorization", b"")
            expected = b"Bearer " + self.metrics_token.encode()
            if not hmac.compare_digest(presented, expected):
                err = GatewayError(
                    401, "invalid_metrics_token", "GET /metrics needs 'Authorization: Bearer <metrics token>'."
                )
                await send_response(send, 401, err.body(), [])
                return
        body = await asyncio.to_thread(self.metrics.exposition)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def begin_drain(self) -> None:
        """A graceful shutdown began (``vaultgate.serving`` calls this): requests in flight get
        ``drain_timeout`` seconds to finish; then each still running is ended, a stream with an SSE
        error event (``server_shutting_down``), a request still waiting with a JSON 503, and recorded so."""
        if self._drain is not None:
            return
        log.info("shutting down: requests in flight have %g s to finish", self.drain_timeout)
        self._drain = asyncio.get_running_loop().call_later(self.drain_timeout, self._end_running)

    def _end_running(self) -> None:
        ended = self.data_plane.end_running()
        if ended:
            log.warning("shutdown: %d requests still running after %g s were ended", ended, self.drain_timeout)

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """Whether this replica should get traffic, and each dependency's state (``/readyz``).

        Ready when its snapshot was confirmed by the store within ``max_staleness`` seconds (it
        refuses keys otherwise), Redis answers (when limits use it), and a provider is configured.
        Usage writing is reported but does not make a replica unready: events are kept meanwhile.
        """
        age = self.refresher.staleness()
        database = {
            "ok": age <= self.max_staleness,
            "snapshot_age_seconds": round(age, 3),
            "max_staleness_seconds": self.max_staleness,
        }
        checks: dict[str, object] = {"database": database}
        ok = bool(database["ok"])
        if self.limiter is not None:
            reachable = await self.limiter.backend.reachable()
            checks["limits"] = {"ok": reachable}
            ok = ok and reachable
        providers = len(self.refresher.current.providers)
        checks["providers"] = {"ok": providers > 0, "count": providers}
        ok = ok and providers > 0
        stats = self.recorder.stats()
        checks["usage"] = {
            "queued": stats.queued,
            "spooled": stats.spooled,
            "replayed": stats.replayed,
            "rejected": stats.rejected,
            "dropped": stats.dropped,
            "store_unavailable_seconds": None if stats.outage_seconds is None else round(stats.outage_seconds, 3),
        }
        if self._drain is not None:  # shutting down: take this replica out of rotation
            return False, {"status": "draining", **checks}
        return ok, {"status": "ready" if ok else "unavailable", **checks}

    async def start(self) -> None:
        """Open the upstream pool, load the first snapshot, start the background tasks."""
        await self.client.start()
        await self.refresher.start()
        await self.recorder.start()
        if self.limiter is not None:
            await self.limiter.start()
        if self.hooks is not None:
            self._background.append(asyncio.create_task(self.hooks.rotation_loop(), name="vaultgate-rotation"))
            self._background.append(
                asyncio.create_task(self.hooks.security_events_loop(), name="vaultgate-security-events")
            )
        if self.retention is not None:
            self._background.append(asyncio.create_task(self.retention.run(), name="vaultgate-retention"))
        current = self.refresher.current
        freeze_startup_objects()
        log.info(
            "vaultgate ready: %d active keys, providers: %s (default: %s)",
            len(current.grants),
            ", ".join(f"{p.name} ({p.kind.value})" for p in current.providers.values()) or "none",
            current.default_provider or "none",
        )

    async def stop(self) -> None:
        """Flush every usage event and security event, stop refreshing, close the pool."""
        for task in self._background:
            task.cancel()
        if self.hooks is not None:
            await self.hooks.close()  # the security events counted since the last flush go to the trail
        await self.refresher.stop()
        await self.recorder.stop()
        if self.limiter is not None:
            await self.limiter.stop()
        await self.client.stop()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)  # the spans still batched are exported

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:  # report to the server, which refuses to start
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _plane(path: str) -> str:
    """Which part of the server a path belongs to (a log label that carries nothing the client chose)."""
    for prefix in ("/v1/", "/openai/", "/admin", "/healthz", "/scim/v2"):
        if path.startswith(prefix):
            return prefix.rstrip("/")
    return "other paths"


def _serves_member(snapshot: Snapshot, member_id: str) -> bool:
    """Whether the snapshot still honours a key or short-lived token of the member."""
    return any(grant.member_id == member_id for grant in (*snapshot.grants.values(), *snapshot.tokens.values()))


def _usage_states(recorder: UsageRecorder) -> dict[str, float]:
    stats = recorder.stats()
    return {
        "queued": stats.queued,
        "spooled": stats.spooled,
        "replayed": stats.replayed,
        "rejected": stats.rejected,
        "dropped": stats.dropped,
    }


def build(settings: config.Settings) -> Gateway:
    """A gateway for ``settings`` (reads the master key and the database, opens nothing else yet)."""
    cp = open_control_plane(settings)
    client = UpstreamClient(
        timeout=settings.upstream_timeout,
        connect_timeout=settings.upstream_connect_timeout,
        allow_link_local=settings.allow_link_local_upstreams,
        max_response_bytes=settings.max_upstream_response_bytes,
    )
    adapters: dict[ProviderKind, ProviderAdapter] = {
        ProviderKind.OPENAI: OpenAIAdapter(client),
        ProviderKind.COMPATIBLE: OpenAIAdapter(client),
        ProviderKind.AZURE: AzureAdapter(client),
        ProviderKind.ECHO: EchoAdapter(),
    }
    refresher = Refresher(
        lambda: snapshot_loader.load(cp),
        cp.store.revisions,
        interval=settings.refresh_interval,
        listen=snapshot_loader.pg_listener(cp),
        load_tokens=lambda current: snapshot_loader.load_tokens(cp, current),
    )
    metrics = Metrics()
    tracing = tracing_from(settings.tracing)
    recorder = UsageRecorder(
        lambda batch: usage.write(cp, batch),
        flush_interval=settings.usage_flush_interval,
        spool=Spool(settings.data_dir / "usage-spool"),
        is_malformed=usage.is_malformed,
        observers=(AccessLog(settings.access_log).observe,),
    )
    limiter = build_limiter(settings, cp.prices)
    privacy = PrivacyGuard.with_installed_recognisers(
        scan_timeout=settings.privacy_scan_timeout, scan_max_bytes=settings.privacy_scan_max_bytes
    )
    log.info("%s", privacy.describe())  # which recognisers are active, said once at start-up
    security = SecurityEvents()  # counted by the data plane, flushed to the audit trail by the hooks
    hooks = DataPlaneHooks(
        cp,
        refresher,
        settings.rotation_check_interval,
        security=security,
        security_flush_seconds=settings.security_events_flush_seconds,
        metrics=metrics,
    )
    limits = http_limits(settings)
    retries = failover(settings, hooks)
    data_plane = DataPlane(
        snapshot=lambda: refresher.current,
        hasher=cp.hasher,
        adapters=adapters,
        usage=recorder,
        max_body_bytes=settings.max_body_bytes,
        limiter=limiter,
        privacy=privacy,
        on_canary=hooks.canary_used,
        issue_token=hooks.issue_token,
        trusted_proxies=trusted_proxies(settings.trusted_proxies),
        token_exchange_rpm=settings.token_exchange_rpm,
        http_limits=limits,
        failover=retries,
        max_event_bytes=settings.max_upstream_event_bytes,
        # Object ownership: looked up (and recorded) in the store, in worker threads, only by object routes.
        objects=ObjectDirectory(
            lambda ids: objects.lookup(cp, ids),
            lambda owners: objects.record(cp, owners),
            lambda object_id: objects.forget(cp, object_id),
        ),
        staleness=refresher.staleness,
        max_staleness=settings.max_staleness,
        # Every answered request's outcome (no content): counted, and traced when tracing is on.
        observers=(metrics.observe,) if tracing is None else (metrics.observe, tracing.observe),
        security=security,
    )
    refresher.on_swap.append(data_plane.snapshot_swapped)  # kill switches reach requests in flight
    # Owners' admin tokens are break-glass once identity is managed elsewhere (services/break_glass.py).
    break_glass = BreakGlass(cp, sso_configured=bool(settings.oidc_issuer))
    # The admin API, the console and SCIM are built on their first request (gateway/lazy_app.py): a worker
    # that serves only /v1 never imports FastAPI's routes, joserfc or scim2-models (docs/PERFORMANCE.md).
    admin = LazyApp(lambda: admin_app(cp, settings, break_glass), "admin")
    gateway = Gateway(data_plane, admin, refresher, client, recorder, limiter, hooks, limits)
    # The console counts refused sign-ins with the data plane's security events and reads its breakers.
    gateway.console = LazyApp(lambda: console_app(cp, settings, security, retries.breakers), "console")
    # The SCIM app, measured: each deprovisioning it makes is audited with the time until this replica's
    # snapshot stopped serving the member's keys (identity/revocation.py).
    scim = LazyApp(lambda: scim_app(cp, settings, security), "scim")
    timer = RevocationTimer(scim, cp, lambda member_id: _serves_member(refresher.current, member_id))
    refresher.on_swap.append(timer.swapped)
    gateway.scim = timer
    gateway.retention = RetentionSchedule(cp, settings.usage_retention_days)
    gateway.metrics = metrics
    gateway.metrics_token = settings.metrics_token
    gateway.tracing = tracing
    metrics.gauge(
        "vaultgate_snapshot_age_seconds",
        "Seconds since the store last confirmed this replica's view of keys.",
        lambda: {"current": refresher.staleness()},
    )
    metrics.gauge("vaultgate_usage_events", "Usage events by state since start.", lambda: _usage_states(recorder))
    metrics.gauge(
        "vaultgate_circuit_breakers",
        "Deployments whose circuit breaker is open or half-open (this process).",
        lambda: {"open": retries.breakers.open_count()},
    )
    if limiter is not None:
        metrics.gauge(
            "vaultgate_limits_settlements",
            "Settlements waiting for the limits backend.",
            lambda: {"unsettled": limiter.unsettled},
        )
    gateway.max_staleness = settings.max_staleness
    gateway.drain_timeout = settings.drain_timeout
    return gateway


def admin_app(cp: ControlPlane, settings: config.Settings, break_glass: BreakGlass) -> ASGIApp:
    """The ``/admin`` FastAPI app (imported and built on the first ``/admin`` request)."""
    from vaultgate.admin.api import build_admin_app

    return build_admin_app(cp, docs=settings.admin_docs, break_glass=break_glass)


def console_app(
    cp: ControlPlane, settings: config.Settings, security: SecurityEvents, breakers: CircuitBreakers
) -> ASGIApp:
    """The ``/console`` app (imported and built on the first ``/console`` request)."""
    from vaultgate.console.app import build_console_app

    proxies = trusted_proxies(settings.trusted_proxies)
    return build_console_app(cp, settings, security=security, breakers=breakers, proxies=proxies)


def scim_app(cp: ControlPlane, settings: config.Settings, security: SecurityEvents) -> ASGIApp:
    """The ``/scim/v2`` app (imported and built on the first SCIM request); a refused SCIM credential
    is counted with the security events (auth.failures), as the console's are."""
    from vaultgate.identity.scim.app import build_scim_app

    return build_scim_app(cp, on_refused=scim_refusals(security, trusted_proxies(settings.trusted_proxies)))


def failover(settings: config.Settings, hooks: DataPlaneHooks) -> Failover:
    """The retry and failover loop with this process's circuit breakers (``VAULTGATE_UPSTREAM_*``)."""
    policy = RetryPolicy(
        max_attempts=settings.upstream_max_attempts,
        budget=settings.upstream_retry_budget,
        backoff_base=settings.upstream_backoff_base,
        backoff_max=settings.upstream_backoff_max,
    )
    breakers = CircuitBreakers(
        threshold=settings.upstream_breaker_threshold, cool_down=settings.upstream_breaker_cool_down
    )
    return Failover(policy, breakers, on_credential_refused=hooks.credential_refused)


def http_limits(settings: config.Settings) -> HttpLimits:
    """The protocol limits from the settings (``VAULTGATE_HEADER_TIMEOUT`` and the others)."""
    return HttpLimits(
        header_timeout=settings.header_timeout,
        body_idle_timeout=settings.body_idle_timeout,
        body_timeout=settings.body_timeout,
        max_header_count=settings.max_header_count,
        max_header_bytes=settings.max_header_bytes,
    )


def scim_refusals(security: SecurityEvents, proxies: Networks) -> Callable[[Request, str], None]:
    """Counts a credential the SCIM app refused, from the client that sent it, as an ``auth.failures`` event."""

    def count(request: Request, credential: str) -> None:
        host = request.client.host if request.client else None
        security.auth_failure(credential, source_text(host, request.headers.get("x-forwarded-for"), proxies), "scim")

    return count


def trusted_proxies(text: str) -> Networks:
    """The configured proxy networks (``VAULTGATE_TRUSTED_PROXIES``: comma-separated addresses or CIDRs)."""
    try:
        return tuple(parse_network(part) for part in text.split(",") if part.strip())
    except PolicyError as exc:
        raise config.ConfigError(f"VAULTGATE_TRUSTED_PROXIES: {exc}") from None


def build_limiter(settings: config.Settings, prices: PriceTable) -> Limiter:
    """The limiter: Redis when ``redis_url`` is set (shared by workers and replicas), else in-process."""
    backend: LimiterBackend
    if settings.redis_url:
        from vaultgate.limits.shared import RedisBackend  # redis (and the OpenTelemetry it imports) only when used

        backend = RedisBackend(settings.redis_url, prefix=settings.limits_prefix, timeout=settings.limits_timeout)
    else:
        backend = MemoryBackend()
    # A lease outlives the longest upstream call, so a crashed replica's concurrency slots free themselves.
    return Limiter(backend, prices)


def create_app() -> Gateway:
    """The uvicorn factory: settings from the environment (the CLI sets them)."""
    settings = config.load()
    configure_logging(settings.log_level, settings.log_format)
    return build(settings)
