"""Bounded staleness: a replica cut off from its database refuses keys after ``max_staleness``, and
``/readyz`` says so; both recover when the database is back. A real PostgreSQL, crashed by the test."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from tests.support.postgres import PrivatePostgres
from tests.support.process import initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR

pytestmark = pytest.mark.postgres


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.1)


def test_a_replica_cut_off_from_its_database_fails_closed_then_recovers(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    upstream = ThreadedServer(CaptureUpstream()).start()
    settings = Settings(
        data_dir=tmp_path / "data", database_url=private_postgres.url, refresh_interval=0.2, max_staleness=1.0
    )
    cp = initialised(settings, upstream.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice").token
    cp.store.dispose()
    gateway = ThreadedServer(build(settings)).start()
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)

    def served() -> bool:
        try:
            client.models.list()
        except openai.APIStatusError as err:
            assert err.status_code == 503 and err.code == "snapshot_stale", err
            return False
        return True

    def ready() -> bool:
        answer = httpx.get(gateway.url + "/readyz")
        assert answer.headers["content-type"] == "application/json"
        return answer.status_code == 200 and answer.json()["database"]["ok"] is True

    try:
        assert served() and ready()
        private_postgres.crash()
        eventually(lambda: not served())  # fails closed once the snapshot is older than 1 s
        report = httpx.get(gateway.url + "/readyz")
        assert report.status_code == 503 and report.json()["status"] == "unavailable"
        assert report.json()["database"]["snapshot_age_seconds"] > 1.0
        private_postgres.start()
        eventually(served)
        eventually(ready)
    finally:
        gateway.stop()
        upstream.stop()
