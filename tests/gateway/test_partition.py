"""A network partition between one replica and its dependencies, end to end.

Two ``vaultgate serve`` replicas share one PostgreSQL and one Redis; replica B reaches both only
through TCP proxies (tests/support/tcp_proxy.py) that the test cuts like a partition does: open
connections break, new ones are accepted and never answered (blackhole). Traffic goes through
the official SDK to both replicas, and every answer is counted against the usage rows.

- B cut off from PostgreSQL keeps serving from its snapshot until ``max_staleness``, then refuses
  every key with 503 ``snapshot_stale``; its ``/readyz`` names the database. Meanwhile a key is
  revoked through the admin API on A. Once healed, B refuses the revoked key, serves the others,
  is ready again, and every request it answered during the partition has its usage row.
- B cut off from Redis refuses keys with limits (503 ``limits_unavailable``), serves keys without;
  once healed it admits again by itself and no concurrency lease of B's stays held.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import psycopg
import pytest
import redis
from sqlalchemy import select
from tests.support.process import GatewayProcess, initialised
from tests.support.redis_server import PrivateRedis
from tests.support.servers import ThreadedServer
from tests.support.tcp_proxy import TcpProxy
from tests.support.upstream import Captured, CaptureUpstream

from vaultgate.config import Settings
from vaultgate.services import bootstrap, keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

MAX_STALENESS = 3.0  # small, with room for a loaded machine to answer the first requests after the cut
SLOW_MODEL = "gpt-4o-mini"  # the upstream holds these answers until the test lets them go
LEASE_PREFIX = "vaultgate:limits:"


def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> float:
    """Poll ``check`` until it holds (generous deadline); the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


@dataclass
class Answers:
    """Every answer a replica gave the test: status and error code by request id."""

    seen: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request_id: str, status: int, code: str | None) -> None:
        with self.lock:
            self.seen[request_id] = (status, code)

    def since(self, mark: int) -> list[tuple[int, str | None]]:
        with self.lock:
            return list(self.seen.values())[mark:]

    def __len__(self) -> int:
        return len(self.seen)


class Replica:
    """A ``vaultgate serve`` process and the test's record of its answers."""

    def __init__(self, name: str, process: GatewayProcess) -> None:
        self.name = name
        self.process = process
        self.answers = Answers()

    def ask(self, key: str, model: str = "gpt-4o") -> tuple[int, str | None]:
        """One chat completion with the SDK; (status, error code), recorded under its request id."""
        client = openai.OpenAI(base_url=self.process.url + "/v1", api_key=key, max_retries=0, timeout=60)
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
        except openai.APIStatusError as err:
            answer = (err.status_code, err.code)
            self.answers.add(err.response.headers["x-request-id"], *answer)
            return answer
        raw.parse()
        self.answers.add(raw.headers["x-request-id"], 200, None)
        return 200, None

    def ready(self) -> tuple[int, dict[str, Any]]:
        answer = httpx.get(self.process.url + "/readyz", timeout=30)
        return answer.status_code, answer.json()


class HeldUpstream(CaptureUpstream):
    """The capturing upstream; answers for ``SLOW_MODEL`` wait until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.held = 0

        async def hold(request: Captured, send: Any) -> bool:
            if request.body and request.json().get("model") == SLOW_MODEL:
                self.held += 1
                while not self.release.is_set():
                    await asyncio.sleep(0.02)
            return False

        self.respond = hold


@dataclass
class Cluster:
    cp: ControlPlane
    admin_token: str
    a: Replica
    b: Replica
    pg_proxy: TcpProxy
    redis_proxy: TcpProxy
    redis_url: str
    upstream: HeldUpstream

    def usage_ids(self) -> set[str]:
        with self.cp.store.session() as session:
            return set(session.scalars(select(UsageEvent.request_id)).all())

    def revoke_on_a(self, key_id: str) -> None:
        answer = httpx.post(
            f"{self.a.process.url}/admin/keys/{key_id}/revoke",
            headers={"authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json()["status"] == "revoked", answer.text


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[Cluster]:
    """Both replicas, their proxies, Redis and a database of the module's own (each test uses its own keys)."""
    tmp_path = tmp_path_factory.mktemp("partition")
    name = "vg_test_" + secrets.token_hex(6)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, host_port = postgres_admin_url.rsplit("/", 1)[0], postgres_admin_url.split("@", 1)[1].split("/", 1)[0]
    postgres_url = f"{base}/{name}"
    upstream = HeldUpstream()
    upstream_server = ThreadedServer(upstream).start()
    private_redis = PrivateRedis()
    pg_proxy = TcpProxy(host_port.rsplit(":", 1)[0], int(host_port.rsplit(":", 1)[1])).start()
    redis_proxy = TcpProxy("127.0.0.1", private_redis.port).start()
    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=postgres_url)
    init = bootstrap.init(settings)
    assert init.admin_token is not None
    cp = initialised(settings, upstream_server.url)
    common = {
        "VAULTGATE_REFRESH_INTERVAL": "0.2",
        "VAULTGATE_MAX_STALENESS": str(MAX_STALENESS),
        "VAULTGATE_USAGE_FLUSH_INTERVAL": "0.2",
        "VAULTGATE_LIMITS_TIMEOUT": "0.5",
        "VAULTGATE_LOG_LEVEL": "info",
    }
    a_env = {**common, "VAULTGATE_DATABASE_URL": postgres_url, "VAULTGATE_REDIS_URL": private_redis.url}
    b_env = {
        **common,
        "VAULTGATE_DATABASE_URL": postgres_url.replace(host_port, f"127.0.0.1:{pg_proxy.port}"),
        "VAULTGATE_REDIS_URL": redis_proxy.url("redis://127.0.0.1:{port}/0"),
    }
    processes: list[GatewayProcess] = []
    try:
        with ThreadPoolExecutor(2) as starting:  # both start at once (each waits until it answers)
            started = [
                starting.submit(GatewayProcess, data, tmp_path / f"{n}.log", e) for n, e in (("a", a_env), ("b", b_env))
            ]
            for future in started:
                with contextlib.suppress(RuntimeError):  # did not start: its log is in the error raised below
                    processes.append(future.result())
        assert len(processes) == 2, "a replica did not start: " + str([f.exception() for f in started])
        yield Cluster(
            cp,
            init.admin_token,
            Replica("A", processes[0]),
            Replica("B", processes[1]),
            pg_proxy,
            redis_proxy,
            private_redis.url,
            upstream,
        )
    finally:
        upstream.release.set()
        for process in processes:
            process.stop()
        pg_proxy.stop()
        redis_proxy.stop()
        private_redis.stop()
        upstream_server.stop()
        cp.store.dispose()
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_replica_partitioned_from_postgres_fails_closed_and_loses_no_usage(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    members.add(cluster.cp, LOCAL_OPERATOR, "alice")
    kept = keys.create(cluster.cp, LOCAL_OPERATOR, "alice").token
    doomed = keys.create(cluster.cp, LOCAL_OPERATOR, "alice")
    b.answers = Answers()
    for replica in (a, b):
        eventually(lambda r=replica: r.ask(doomed.token) == (200, None), f"{replica.name} serves the new keys")
    assert b.ready()[0] == 200
    warm_up = set(b.answers.seen)

    cluster.pg_proxy.cut("blackhole")
    mark = len(b.answers)
    # B goes on serving from its snapshot, then refuses every key once it is older than max_staleness.
    eventually(lambda: b.ask(kept) == (503, "snapshot_stale"), "B refuses keys once its snapshot is stale")
    during = b.answers.since(mark)
    first_refusal = during.index((503, "snapshot_stale"))
    assert set(during[:first_refusal]) <= {(200, None)} and first_refusal >= 1, during
    status, report = b.ready()
    assert status == 503 and report["database"]["ok"] is False, report
    assert report["database"]["snapshot_age_seconds"] > MAX_STALENESS

    cluster.revoke_on_a(doomed.info.id)  # the admin API of the replica that still reaches the database
    eventually(lambda: a.ask(doomed.token) == (401, "invalid_api_key"), "A refuses the revoked key")
    assert b.ask(doomed.token) == (503, "snapshot_stale")  # B cannot know; it accepts no key
    assert b.ask(kept) == (503, "snapshot_stale")
    partition_ids = set(b.answers.seen)  # every answer B gave, before and during the partition

    cluster.pg_proxy.heal()
    healed = eventually(lambda: b.ask(doomed.token) == (401, "invalid_api_key"), "B refuses the revoked key")
    assert b.ask(kept) == (200, None)
    eventually(lambda: b.ready()[0] == 200, "B is ready again")
    print(f"B refused the revoked key {healed:.2f} s after the partition healed")
    assert cluster.pg_proxy.blackholed > 0, "B never tried the database during the partition"

    # Every request B served, before, during and after the partition, has exactly one usage row. (Refusals
    # before authentication, snapshot_stale and invalid_api_key among them, have no key to account to.)
    served = {i for i, answer in b.answers.seen.items() if answer == (200, None)}
    eventually(lambda: served <= cluster.usage_ids(), "B's usage events reach the database", timeout=90)
    during_partition = served & partition_ids - warm_up
    assert len(during_partition) >= 1, b.answers.seen
    _, report = b.ready()
    assert report["usage"]["dropped"] == 0, report["usage"]
    with cluster.cp.store.session() as session:
        rows = Counter(session.scalars(select(UsageEvent.request_id)).all())
    assert all(rows[i] == 1 for i in served), "a usage event was written twice"


def test_a_replica_partitioned_from_redis_fails_closed_for_limited_keys_only(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    members.add(cluster.cp, LOCAL_OPERATOR, "bob")
    limited = keys.create(cluster.cp, LOCAL_OPERATOR, "bob", limits={"rpm": 10_000, "concurrency": 20})
    free = keys.create(cluster.cp, LOCAL_OPERATOR, "bob").token
    b.answers = Answers()
    cluster.upstream.release.clear()
    cluster.upstream.held = 0
    for replica in (a, b):
        eventually(lambda r=replica: r.ask(limited.token) == (200, None), f"{replica.name} serves the new keys")

    # Requests admitted at B before the cut are still running (held by the upstream) when it comes.
    running = [threading.Thread(target=b.ask, args=(limited.token, SLOW_MODEL)) for _ in range(3)]
    for thread in running:
        thread.start()
    eventually(lambda: cluster.upstream.held == 3, "three requests reach the upstream")
    leases = f"{LEASE_PREFIX}k:{limited.info.id}:c"
    with redis.Redis.from_url(cluster.redis_url) as direct:
        assert direct.zcard(leases) == 3

    cluster.redis_proxy.cut("blackhole")
    cluster.upstream.release.set()  # they end now; B cannot release their leases
    for thread in running:
        thread.join(timeout=60)
    assert b.answers.since(0).count((200, None)) >= 4
    for _ in range(5):
        assert b.ask(limited.token) == (503, "limits_unavailable")
        assert b.ask(free) == (200, None)
    assert a.ask(limited.token) == (200, None)  # A's path to Redis is fine
    status, report = b.ready()
    assert status == 503 and report["limits"]["ok"] is False, report
    with redis.Redis.from_url(cluster.redis_url) as direct:
        assert direct.zcard(leases) == 3  # B's releases did not get through

    cluster.redis_proxy.cut("reset")  # refused instead of unanswered: the same answers
    assert b.ask(limited.token) == (503, "limits_unavailable")
    assert b.ask(free) == (200, None)
    assert cluster.redis_proxy.refused > 0

    cluster.redis_proxy.heal()
    recovered = eventually(lambda: b.ask(limited.token) == (200, None), "B admits keys with limits again")
    eventually(lambda: b.ready()[0] == 200, "B is ready again")
    with redis.Redis.from_url(cluster.redis_url) as direct:
        # The releases that failed during the cut are retried once Redis answers again: no lease outlives
        # its request by more than the lease margin (docs/LIMITS.md).
        released = eventually(lambda: direct.zcard(leases) == 0, "B's leases are released", timeout=40)
    print(f"B admitted again {recovered:.2f} s after healing; its leases were released {released:.2f} s later")
