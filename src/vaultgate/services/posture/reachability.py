"""Whether what the gateway depends on answers: Redis (when limits use it) and each provider's base URL.

Providers are probed through the gateway's own upstream client (``upstream.http``: TLS verified,
forbidden addresses refused, redirects never followed) with a plain ``GET`` of the base URL that
carries no credential and no body: any HTTP answer, a 401 or 404 included, means reachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from vaultgate.services.posture.finding import Fact, Finding, Severity, command
from vaultgate.services.posture.inspection import Check, Inspection
from vaultgate.store.models import Provider
from vaultgate.upstream.config import ProviderKind


@dataclass(frozen=True, slots=True)
class Probe:
    """One provider's answer to the probe: its HTTP status, or why there was none."""

    provider: str
    base_url: str
    status: int | None
    problem: str | None


async def _probe_providers(targets: list[tuple[str, str]], timeout: float, allow_link_local: bool) -> list[Probe]:
    # Imported here: aiohttp is loaded only when a report actually probes.
    from vaultgate.upstream.http import UpstreamClient
    from vaultgate.upstream.interface import UpstreamError

    client = UpstreamClient(timeout=timeout, connect_timeout=timeout, limit=16, allow_link_local=allow_link_local)
    await client.start()

    async def one(name: str, url: str) -> Probe:
        try:
            response = await asyncio.wait_for(client.request("GET", url, [], b""), timeout * 2)
        except UpstreamError as exc:
            return Probe(name, url, None, str(exc))
        except TimeoutError:
            return Probe(name, url, None, "The upstream did not answer in time.")
        await response.close()
        return Probe(name, url, response.status, None)

    try:
        return list(await asyncio.gather(*(one(name, url) for name, url in targets)))
    finally:
        await client.stop()


async def _redis_answers(url: str, prefix: str, timeout: float) -> bool:
    from vaultgate.limits.shared import RedisBackend

    backend = RedisBackend(url, prefix=prefix, timeout=timeout, max_connections=2)
    try:
        return await asyncio.wait_for(backend.reachable(), timeout * 2)
    except TimeoutError:
        return False
    finally:
        await backend.stop()


def redis(inspection: Inspection) -> Iterator[Finding | Fact]:
    """With ``VAULTGATE_REDIS_URL`` set, a PING: no answer is high (keys with limits get 503)."""
    settings = inspection.settings
    if not settings.redis_url:
        return
    answered = asyncio.run(_redis_answers(settings.redis_url, settings.limits_prefix, settings.posture_probe_timeout))
    yield Fact("redis_reachable", answered)
    if not answered:
        yield Finding(
            "redis.unreachable",
            Severity.HIGH,
            "Redis does not answer: every key with rate limits, budgets or concurrency is refused (503)",
            "redis",
            {"timeout_seconds": settings.posture_probe_timeout},
            command("config", "check"),
        )


def providers(inspection: Inspection) -> Iterator[Finding | Fact]:
    """Each provider (the offline echo aside) probed; no HTTP answer is medium."""
    settings = inspection.settings
    with inspection.plane.store.session() as session:
        rows = session.execute(select(Provider.name, Provider.kind, Provider.base_url).order_by(Provider.name)).all()
    targets = [(name, url) for name, kind, url in rows if kind != ProviderKind.ECHO.value]
    if not targets:
        return
    probes = asyncio.run(_probe_providers(targets, settings.posture_probe_timeout, settings.allow_link_local_upstreams))
    yield Fact("providers_reachable", {p.provider: p.problem is None for p in probes})
    for p in probes:
        if p.problem is None:
            continue
        yield Finding(
            "provider.unreachable",
            Severity.MEDIUM,
            f"provider does not answer: {p.problem}",
            p.provider,
            {"provider": p.provider, "base_url": p.base_url, "problem": p.problem},
            command("provider", "update", p.provider, "--base-url", "URL"),
        )


CHECKS = (Check("redis", redis, needs_store=False), Check("providers.reachable", providers))
