"""Ownership through the store, as deployed: found at once by another replica, fail closed when the store fails.

- Two ``vaultgate serve`` processes on one PostgreSQL: an object created through one is usable
  through the other on the very next request (recorded before the answer; absent ids are never
  cached, so an id the other replica was asked about before it existed is found once it does).
- The store failing (its table gone) is a 503 ``ownership_unavailable``, never a 200, on SQLite
  and PostgreSQL, for lookups and for recording a new object.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import text
from tests.conftest import Stack, make_settings
from tests.support.fresh_ids import FreshIds
from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane


@pytest.fixture
def replicas(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ControlPlane, FreshIds, list[GatewayProcess]]]:
    fresh = FreshIds()
    upstream_server = ThreadedServer(CaptureUpstream(respond=fresh)).start()
    settings = make_settings(tmp_path, postgres_url)
    cp = initialised(settings, upstream_server.url)
    env = {"VAULTGATE_DATABASE_URL": postgres_url, "VAULTGATE_REFRESH_INTERVAL": "0.2"}
    processes = [GatewayProcess(settings.data_dir, tmp_path / f"replica{i}.log", env) for i in range(2)]
    yield cp, fresh, processes
    for process in processes:
        process.stop()
    upstream_server.stop()
    cp.store.dispose()


def _live_key(cp: ControlPlane, member: str, processes: list[GatewayProcess]) -> str:
    members.add(cp, LOCAL_OPERATOR, member)
    token = keys.create(cp, LOCAL_OPERATOR, member).token
    target = cp.store.revision()
    deadline = time.monotonic() + 10
    for process in processes:
        while int(httpx.get(process.url + "/healthz").json()["revision"]) < target:
            assert time.monotonic() < deadline, "a replica did not pick up the new key"
            time.sleep(0.02)
    return token


@pytest.mark.postgres
def test_an_object_created_on_one_replica_is_the_owners_on_the_other_at_once(
    replicas: tuple[ControlPlane, FreshIds, list[GatewayProcess]],
) -> None:
    cp, fresh, (one, two) = replicas
    alice = _live_key(cp, "alice", [one, two])
    bob = _live_key(cp, "bob", [one, two])
    on_one = openai.OpenAI(base_url=one.url + "/v1", api_key=alice, max_retries=0)
    on_two = openai.OpenAI(base_url=two.url + "/v1", api_key=alice, max_retries=0)
    coming = fresh.peek("file")
    with pytest.raises(openai.NotFoundError):  # asked about before it exists: not cached as absent
        on_two.files.retrieve(coming)
    created = on_one.files.create(file=("a.jsonl", b"{}\n"), purpose="batch")
    assert created.id == coming
    assert on_two.files.retrieve(created.id).id == created.id  # the very next request, the other replica
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(base_url=two.url + "/v1", api_key=bob, max_retries=0).files.retrieve(created.id)


def test_a_failing_store_fails_closed(stack: Stack) -> None:
    stack.upstream.respond = FreshIds()
    stack.member("alice")
    client = openai.OpenAI(base_url=stack.base_url, api_key=stack.key("alice"), max_retries=0)
    file_id = client.files.create(file=("a.jsonl", b"{}\n"), purpose="batch").id
    doomed = client.files.create(file=("d.jsonl", b"{}\n"), purpose="batch").id
    assert client.files.retrieve(doomed).id == doomed  # its owner is in this gateway's cache now
    with stack.cp.store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE owned_objects RENAME TO owned_objects_away"))
    try:
        before = len(stack.upstream.requests)
        with pytest.raises(openai.InternalServerError) as looked_up:
            client.files.retrieve(file_id)
        assert looked_up.value.status_code == 503
        assert looked_up.value.code == "ownership_unavailable"
        assert len(stack.upstream.requests) == before
        with pytest.raises(openai.InternalServerError) as recorded:
            client.files.create(file=("b.jsonl", b"{}\n"), purpose="batch")
        assert recorded.value.status_code == 503
        assert recorded.value.code == "ownership_unavailable"
        assert "vaultgate object claim" in recorded.value.message
        # A deletion the upstream made is answered even when the record cannot be forgotten.
        assert client.files.delete(doomed).deleted
    finally:
        with stack.cp.store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE owned_objects_away RENAME TO owned_objects"))
    assert client.files.retrieve(file_id).id == file_id
