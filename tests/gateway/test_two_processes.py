"""Two gateway processes share one PostgreSQL: revocation, suspension and lockdown reach both within a second."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import make_settings
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.services import keys, members, org
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane

pytestmark = pytest.mark.postgres
BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


class Replica(GatewayProcess):
    def status(self, key: str) -> int:
        return httpx.post(
            self.url + "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}"}
        ).status_code


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ControlPlane, list[Replica]]]:
    upstream_server = ThreadedServer(CaptureUpstream()).start()
    settings = make_settings(tmp_path, postgres_url)
    cp = initialised(settings, upstream_server.url)
    env = {"VAULTGATE_DATABASE_URL": postgres_url}
    replicas = [Replica(settings.data_dir, tmp_path / f"replica{i}.log", env) for i in range(2)]
    yield cp, replicas
    for replica in replicas:
        replica.stop()
    upstream_server.stop()
    cp.store.dispose()


def seconds_until_refused(
    replicas: list[Replica], key: str, expected: int, change: Callable[[], object]
) -> list[float]:
    """Make the change, then poll both replicas; the time each took to refuse the key."""
    start = time.monotonic()
    change()
    took: list[float | None] = [None, None]
    while None in took and time.monotonic() - start < 3:
        for i, replica in enumerate(replicas):
            if took[i] is None and replica.status(key) == expected:
                took[i] = time.monotonic() - start
        time.sleep(0.01)
    assert None not in took, f"not refused everywhere within 3 s: {took}"
    return [t for t in took if t is not None]


def wait_accepted(replicas: list[Replica], key: str) -> None:
    deadline = time.monotonic() + 3
    while not all(r.status(key) == 200 for r in replicas):
        assert time.monotonic() < deadline, "the key never became usable on both replicas"
        time.sleep(0.02)


def test_revocation_suspension_and_lockdown_reach_the_other_process(
    cluster: tuple[ControlPlane, list[Replica]],
) -> None:
    cp, replicas = cluster
    members.add(cp, LOCAL_OPERATOR, "alice")
    members.add(cp, LOCAL_OPERATOR, "bob")
    created = keys.create(cp, LOCAL_OPERATOR, "alice")
    wait_accepted(replicas, created.token)
    revoked = seconds_until_refused(
        replicas, created.token, 401, lambda: keys.revoke(cp, LOCAL_OPERATOR, created.info.id)
    )
    assert max(revoked) < 1.0, revoked

    bob = keys.create(cp, LOCAL_OPERATOR, "bob").token
    wait_accepted(replicas, bob)
    suspended = seconds_until_refused(replicas, bob, 403, lambda: members.suspend(cp, LOCAL_OPERATOR, "bob"))
    assert max(suspended) < 1.0, suspended
    members.resume(cp, LOCAL_OPERATOR, "bob")
    wait_accepted(replicas, bob)

    locked = seconds_until_refused(replicas, bob, 403, lambda: org.set_lockdown(cp, LOCAL_OPERATOR, True))
    assert max(locked) < 1.0, locked
    org.set_lockdown(cp, LOCAL_OPERATOR, False)
    wait_accepted(replicas, bob)


def test_a_token_issued_on_one_replica_works_on_the_other_without_a_snapshot_rebuild(
    cluster: tuple[ControlPlane, list[Replica]],
) -> None:
    cp, replicas = cluster
    members.add(cp, LOCAL_OPERATOR, "carol")
    created = keys.create(cp, LOCAL_OPERATOR, "carol")
    wait_accepted(replicas, created.token)
    before = cp.store.revision()
    answer = httpx.post(
        replicas[0].url + "/v1/vaultgate/tokens", json={}, headers={"authorization": f"Bearer {created.token}"}
    )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert replicas[0].status(token) == 200
    wait_accepted(replicas, token)  # the other replica reloaded its tokens
    assert cp.store.revision() == before  # ... and nothing else
    took = seconds_until_refused(
        replicas, token, 401, lambda: keys.rotate(cp, LOCAL_OPERATOR, created.info.id, grace="0s")
    )
    assert len(took) == 2
