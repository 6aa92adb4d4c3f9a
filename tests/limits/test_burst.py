"""A burst of 1,000 concurrent requests against one replica with Redis limits: the gateway's own
pools (Redis connections, upstream connections, the listen backlog, file descriptors) never turn
it into 503s. Every answer is 200, or with a concurrency limit of 100, 200 or 429
``rate_limit_exceeded``; the usage rows match the answers one for one.

The upstream holds every answer for a moment so the requests overlap; the client is the official
SDK (async), with a connection pool as large as the burst.
"""

from __future__ import annotations

import asyncio
import resource
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest
import redis
from sqlalchemy import select

from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.tcp_proxy import TcpProxy
from tests.support.upstream import Captured, CaptureUpstream
from vaultgate.config import Settings
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

pytestmark = pytest.mark.redis

BURST = 1000
HOLD_SECONDS = 0.3
UPSTREAM_IDLE_SECONDS = 120
SERVICE_OPEN_FILES = 1024


class SlowUpstream(CaptureUpstream):
    """The capturing upstream, holding each answer ``HOLD_SECONDS`` and counting how many it held at once."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = 0
        self.most_at_once = 0

        async def hold(request: Captured, send: Any) -> bool:
            self.holding += 1
            self.most_at_once = max(self.most_at_once, self.holding)
            await asyncio.sleep(HOLD_SECONDS)
            self.holding -= 1
            return False

        self.respond = hold


@dataclass
class Replica:
    cp: ControlPlane
    process: GatewayProcess
    upstream: SlowUpstream
    redis_path: TcpProxy  # the replica reaches Redis only through it

    def key(self, **limits: int) -> tuple[str, str]:
        """A new key with ``limits`` (its secret and id), once the replica serves it."""
        created = keys.create(self.cp, LOCAL_OPERATOR, "alice", limits=limits)
        target = self.cp.store.revision()
        deadline = time.monotonic() + 30
        while int(httpx.get(self.process.url + "/healthz").json()["revision"]) < target:
            assert time.monotonic() < deadline, "the replica did not pick up the new key"
            time.sleep(0.05)
        return created.token, created.info.id

    def usage(self, key_id: str) -> Counter[tuple[int, str | None]]:
        """The key's usage rows by (status, error code)."""
        with self.cp.store.session() as session:
            rows = session.execute(
                select(UsageEvent.status, UsageEvent.error_code).where(UsageEvent.key_id == key_id)
            ).all()
        return Counter((status, code) for status, code in rows)


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Replica]:
    """One replica for the module's bursts (each test uses a key of its own)."""
    tmp_path = tmp_path_factory.mktemp("burst")
    prefix = f"vgtest:{secrets.token_hex(8)}:"
    upstream = SlowUpstream()
    upstream_server = ThreadedServer(upstream)
    # It keeps idle connections for longer than the gateway's pool does, as OpenAI's servers do. (An upstream
    # that closes them after 5 s, like uvicorn's default, races a burst for them: test_keepalive.py.)
    upstream_server.server.config.timeout_keep_alive = UPSTREAM_IDLE_SECONDS
    upstream_server.start()
    settings = Settings(data_dir=tmp_path / "data")
    cp = initialised(settings, upstream_server.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    redis_host, redis_port = redis_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    redis_path = TcpProxy(redis_host, int(redis_port)).start()
    env = {
        "VAULTGATE_REDIS_URL": redis_path.url("redis://127.0.0.1:{port}/0"),
        "VAULTGATE_LIMITS_PREFIX": prefix,
        "VAULTGATE_REFRESH_INTERVAL": "0.2",
        "VAULTGATE_USAGE_FLUSH_INTERVAL": "0.2",
        "VAULTGATE_LOG_LEVEL": "warning",
    }
    # Started with the open-files limit most services get (systemd's soft default): 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVICE_OPEN_FILES, hard))
    try:
        process = GatewayProcess(settings.data_dir, tmp_path / "gateway.log", env)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        yield Replica(cp, process, upstream, redis_path)
    finally:
        process.stop()
        redis_path.stop()
        upstream_server.stop()
        cp.store.dispose()
        with redis.Redis.from_url(redis_url) as client:
            leftovers = list(client.scan_iter(match=prefix + "*", count=1000))
            if leftovers:
                client.delete(*leftovers)


def burst(url: str, *keys: str, count: int = BURST) -> list[tuple[int, str | None]]:
    """``count`` chat completions started at once, taking turns with ``keys``; (status, error code) of each.

    aiohttp, not the SDK: the SDK's httpx pool costs the test ~9 ms of CPU per request at this
    size (three times the gateway's), and on two shared cores that would measure the client.
    The SDK sees the same answers in the tests of each refusal (test_limits_gateway.py)."""

    async def one(http: aiohttp.ClientSession, key: str) -> tuple[int, str | None]:
        try:
            async with http.post(
                url + "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                headers={"authorization": f"Bearer {key}"},
            ) as answer:
                body = await answer.json()
                return answer.status, None if answer.status == 200 else body["error"]["code"]
        except aiohttp.ClientError as exc:  # counted, never hidden: a refused or reset connection
            return 0, type(exc).__name__

    async def run() -> list[tuple[int, str | None]]:
        connector = aiohttp.TCPConnector(limit=BURST)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
            return list(await asyncio.gather(*(one(http, keys[i % len(keys)]) for i in range(count))))

    return asyncio.run(run())


def wait_for_usage(replica: Replica, key_id: str, expected: int) -> Counter[tuple[int, str | None]]:
    """The key's usage rows by (status, error code), once ``expected`` are there (or a generous deadline passed)."""
    deadline = time.monotonic() + 60
    while True:
        rows = replica.usage(key_id)
        if sum(rows.values()) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_burst_of_a_thousand_is_served_whole(replica: Replica) -> None:
    key, key_id = replica.key(rpm=BURST * 5, concurrency=BURST * 2)
    replica.upstream.most_at_once = 0
    answers = Counter(burst(replica.process.url, key))
    assert answers == {(200, None): BURST}, answers
    assert replica.upstream.most_at_once > 10  # they did overlap upstream (how much depends on the CPU left)
    assert wait_for_usage(replica, key_id, BURST) == answers


def test_a_burst_over_the_concurrency_limit_gets_429_never_503(replica: Replica) -> None:
    key, key_id = replica.key(rpm=BURST * 5, concurrency=100)
    replica.upstream.most_at_once = 0
    answers = Counter(burst(replica.process.url, key))
    assert set(answers) <= {(200, None), (429, "rate_limit_exceeded")}, answers
    assert answers[(200, None)] >= 1 and answers[(429, "rate_limit_exceeded")] >= 1, answers
    assert replica.upstream.most_at_once <= 100
    assert wait_for_usage(replica, key_id, BURST) == answers


def test_a_burst_during_a_redis_partition_fails_closed_for_limited_keys_only(replica: Replica) -> None:
    """The pipelines must not turn an outage into a queue: every limited request of the burst is refused
    (each pipeline fails within the limits timeout), the others are served, and it recovers by itself."""
    limited, limited_id = replica.key(rpm=BURST * 5, concurrency=BURST * 2)
    free, free_id = replica.key()
    replica.redis_path.cut("blackhole")
    try:
        answers = burst(replica.process.url, limited, free)
    finally:
        replica.redis_path.heal()
    assert Counter(answers[0::2]) == {(503, "limits_unavailable"): BURST // 2}
    assert Counter(answers[1::2]) == {(200, None): BURST // 2}
    assert replica.redis_path.blackholed > 0
    deadline = time.monotonic() + 30
    while burst(replica.process.url, limited, count=1) != [(200, None)]:
        assert time.monotonic() < deadline, "the replica did not admit again after Redis came back"
    assert wait_for_usage(replica, free_id, BURST // 2) == {(200, None): BURST // 2}
    assert wait_for_usage(replica, limited_id, BURST // 2 + 1)[(503, "limits_unavailable")] == BURST // 2
