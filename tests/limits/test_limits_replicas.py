"""Two gateway processes sharing PostgreSQL and Redis enforce one key's limits exactly, together."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream
from vaultgate.config import Settings
from vaultgate.limits.memory import period_id
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


class Replicas:
    def __init__(self, cp: ControlPlane, urls: list[str]) -> None:
        self.cp = cp
        self.urls = urls

    def key(self, **limits: object) -> str:
        return keys.create(self.cp, LOCAL_OPERATOR, "alice", limits=limits).token

    def wait_for_revision(self) -> None:
        target = self.cp.store.revision()
        deadline = time.monotonic() + 10
        for url in self.urls:
            while int(httpx.get(url + "/healthz").json()["revision"]) < target:
                assert time.monotonic() < deadline, "a replica did not pick up the new key"
                time.sleep(0.05)

    def fire(self, key: str, bodies: list[dict[str, object]]) -> list[httpx.Response]:
        """All requests at once, alternating between the two replicas."""

        async def run() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=len(bodies))
            async with httpx.AsyncClient(timeout=30, limits=limits) as http:
                return list(
                    await asyncio.gather(
                        *(
                            http.post(
                                self.urls[i % 2] + "/v1/chat/completions",
                                json=body,
                                headers={"authorization": f"Bearer {key}"},
                            )
                            for i, body in enumerate(bodies)
                        )
                    )
                )

        return asyncio.run(run())

    def usage(self, expected: int) -> list[UsageEvent]:
        deadline = time.monotonic() + 10
        while True:
            with self.cp.store.session() as session:
                rows = list(session.scalars(select(UsageEvent)).all())
            if len(rows) >= expected or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


@pytest.fixture
def replicas(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    redis_prefix: str,
    capture_upstream: tuple[CaptureUpstream, ThreadedServer],
) -> Iterator[Replicas]:
    _, upstream = capture_upstream
    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=postgres_url, redis_url=redis_url, limits_prefix=redis_prefix)
    cp = initialised(settings, upstream.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    env = {
        "VAULTGATE_DATABASE_URL": postgres_url,
        "VAULTGATE_REDIS_URL": redis_url,
        "VAULTGATE_LIMITS_PREFIX": redis_prefix,
        "VAULTGATE_USAGE_FLUSH_INTERVAL": "0.2",
        "VAULTGATE_LOG_LEVEL": "warning",
    }
    procs: list[GatewayProcess] = []
    try:
        procs = [GatewayProcess(data, tmp_path / f"replica{i}.log", env) for i in range(2)]
        yield Replicas(cp, [p.url for p in procs])
    finally:
        for proc in procs:
            proc.stop()
        cp.store.dispose()


CHAT: dict[str, object] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_two_processes_admit_exactly_the_rpm(replicas: Replicas) -> None:
    key = replicas.key(rpm=50)
    replicas.wait_for_revision()
    replies = replicas.fire(key, [CHAT] * 200)
    statuses = Counter(r.status_code for r in replies)
    assert statuses == {200: 50, 429: 150}
    assert {r.json()["error"]["code"] for r in replies if r.status_code == 429} == {"rate_limit_exceeded"}
    # Both replicas answered half the requests; per-process counters would have admitted up to 100.
    answered = Counter(str(r.url).split("/v1")[0] for r in replies)
    assert sorted(answered.values()) == [100, 100]
    assert len(replicas.usage(200)) == 200


def test_two_processes_hold_a_budget(replicas: Replicas, redis_url: str, redis_prefix: str) -> None:
    cap = 0.01
    key = replicas.key(budget_usd=cap, budget_period="day")
    replicas.wait_for_revision()
    body = {**CHAT, "model": "gpt-4o", "max_tokens": 100}
    replies = replicas.fire(key, [body] * 200)
    statuses = Counter(r.status_code for r in replies)
    assert set(statuses) <= {200, 429}
    assert {r.json()["error"]["code"] for r in replies if r.status_code == 429} == {"insufficient_quota"}
    admitted = statuses[200]
    # Each reserves ~1000 micro-USD (100 output tokens at $10/1M) and settles at 98: at least cap/reservation get in.
    assert admitted >= 9
    rows = [r for r in replicas.usage(200) if r.status == 200]
    assert len(rows) == admitted
    spent = sum(r.cost_usd or 0 for r in rows)
    # Real cost never exceeds the reservation here (max_tokens is set), so the cap holds with no overshoot at all.
    assert spent <= cap
    key_id = keys.list_keys(replicas.cp, LOCAL_OPERATOR, "alice")[-1].id
    with redis.Redis.from_url(redis_url) as client:
        day = period_id("day", float(client.time()[0]))
        counter = int(client.get(f"{redis_prefix}k:{key_id}:b:{day}") or 0)
    assert counter == admitted * 98  # every reservation was settled to its real cost, by whichever replica
