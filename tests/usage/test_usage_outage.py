"""A real PostgreSQL crash under SDK traffic: every usage event reaches the database once it is back.

The test starts its own PostgreSQL server, runs a gateway on it, crashes the server (immediate
stop) while requests keep coming, restarts it, and counts the usage rows end to end; then it
stops the gateway while the database is down (SIGTERM's path) and checks the next start replays.
"""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest
from sqlalchemy import select
from tests.support.postgres import PrivatePostgres
from tests.support.process import initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.store.models import UsageEvent

pytestmark = pytest.mark.postgres


def usage_ids(cp: ControlPlane) -> list[str]:
    with cp.store.session() as session:
        return list(session.scalars(select(UsageEvent.request_id)).all())


def wait_for_rows(cp: ControlPlane, expected: int, timeout: float = 90.0) -> list[str]:
    """The usage rows once ``expected`` are there (the recorder backs off up to 10 s between tries)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ids = usage_ids(cp)
        except Exception:  # the database may still be starting
            ids = []
        if len(ids) >= expected or time.monotonic() > deadline:
            return ids
        time.sleep(0.2)


def test_a_database_crash_loses_no_usage_event(tmp_path: Path, private_postgres: PrivatePostgres) -> None:
    upstream_server = ThreadedServer(CaptureUpstream()).start()
    settings = Settings(data_dir=tmp_path / "data", database_url=private_postgres.url, usage_flush_interval=0.1)
    cp = initialised(settings, upstream_server.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice").token
    gateway = ThreadedServer(build(settings)).start()
    try:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)

        def burst(n: int) -> None:
            for _ in range(n):
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])

        burst(10)
        assert len(wait_for_rows(cp, 10)) == 10
        private_postgres.crash()
        burst(30)  # served from the snapshot; their usage cannot be written now
        private_postgres.start()
        burst(10)
        ids = wait_for_rows(cp, 50)
        assert len(ids) == 50 and len(set(ids)) == 50, f"{len(ids)} usage rows for 50 requests"

        private_postgres.crash()
        burst(5)
        gateway.stop()  # a graceful shutdown while the database is down: the events go to the spool
        spooled = list((settings.data_dir / "usage-spool").iterdir())
        assert spooled, "nothing was spooled at shutdown"
        private_postgres.start()
        gateway = ThreadedServer(build(settings)).start()  # the next start replays them
        ids = wait_for_rows(cp, 55)
        assert len(ids) == 55 and len(set(ids)) == 55
    finally:
        gateway.stop()
        upstream_server.stop()
        cp.store.dispose()
