"""A full disk while the database is down: the gateway keeps answering, events the spool cannot take
stay in memory, and once the disk has room and the database is back every event arrives, once.

Real parts: a tmpfs of a few MiB as the data dir (the spool's disk), filled to the last byte by
the test; a PostgreSQL server the test crashes and restarts; the official SDK as the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select
from tests.support.postgres import PrivatePostgres
from tests.support.process import initialised
from tests.support.servers import ThreadedServer
from tests.support.small_fs import fill, small_filesystem
from tests.support.upstream import CaptureUpstream

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane
from vaultgate.services.usage import is_malformed
from vaultgate.store.models import UsageEvent
from vaultgate.usage.events import UsageRecord
from vaultgate.usage.recorder import UsageRecorder, UsageStoreUnavailable
from vaultgate.usage.spool import Spool


def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def usage_rows(cp: ControlPlane) -> Counter[str]:
    """Request id -> how many usage rows it has (empty while the database is down)."""
    try:
        with cp.store.session() as session:
            return Counter(session.scalars(select(UsageEvent.request_id)).all())
    except Exception:  # the database is down or starting
        return Counter()


@pytest.mark.postgres
def test_a_full_disk_during_a_database_outage_loses_no_usage_event(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    with small_filesystem(tmp_path / "small", "4m") as disk:
        upstream = ThreadedServer(CaptureUpstream()).start()
        settings = Settings(
            data_dir=disk / "data",
            database_url=private_postgres.url,
            usage_flush_interval=0.1,
            refresh_interval=0.2,
            max_staleness=600,  # keys stay usable through the outage; this test is about usage
        )
        cp = initialised(settings, upstream.url)
        members.add(cp, LOCAL_OPERATOR, "alice")
        key = keys.create(cp, LOCAL_OPERATOR, "alice").token
        gateway = ThreadedServer(build(settings)).start()
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
        served: list[str] = []

        def requests(n: int) -> None:
            """``n`` chat completions; each must be answered 200 (raises otherwise)."""
            for _ in range(n):
                raw = client.chat.completions.with_raw_response.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
                )
                raw.parse()
                served.append(raw.headers["x-request-id"])

        def usage() -> dict[str, Any]:
            report: dict[str, Any] = httpx.get(gateway.url + "/readyz").json()["usage"]
            return report

        try:
            requests(5)
            eventually(lambda: len(usage_rows(cp)) == 5, "the first events are written")
            private_postgres.crash()
            requests(20)
            eventually(lambda: (now := usage())["spooled"] == 20 and now["queued"] == 0, "the events are spooled")

            filler = fill(disk)  # the spool's disk is full now
            requests(30)  # the gateway goes on answering
            # What the spool's last block still had room for is spooled; the rest waits in memory.
            eventually(
                lambda: (now := usage())["queued"] > 0 and now["queued"] + now["spooled"] == 50,
                "the events that cannot be spooled wait in memory",
            )
            filler.unlink()  # room again: they go to the spool
            eventually(
                lambda: (now := usage())["queued"] == 0 and now["spooled"] == 50, "the waiting events are spooled"
            )

            filler = fill(disk)  # full again, and the database comes back before any room does
            requests(10)
            private_postgres.start()
            # The events in memory are written; the spool is replayed too if its replay had begun (its offset
            # file exists: rewritten in place, it needs no new space), else it waits for room. Never twice.
            eventually(lambda: len(usage_rows(cp)) >= 15, "the events in memory are written")
            filler.unlink()
            eventually(lambda: len(usage_rows(cp)) == len(served), "every spooled event is replayed", timeout=90)

            rows = usage_rows(cp)
            assert set(rows) == set(served) and len(served) == 65
            assert set(rows.values()) == {1}, "an event was written twice"
            report = usage()
            assert (report["dropped"], report["rejected"]) == (0, 0), report
        finally:
            gateway.stop()
            upstream.stop()
            cp.store.dispose()


def event(request_id: str) -> UsageRecord:
    return UsageRecord(
        datetime.now(UTC), request_id, "mem", "key", "p", "chat/completions", "m", 200, None, False, 1, 1, 1.0, None
    )


def test_when_memory_is_full_too_every_dropped_event_is_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the store, nor the (real, full) disk, nor the memory queue takes them: counted, never silent."""

    def store_down(batch: object) -> None:
        raise OSError("the database is down")

    with small_filesystem(tmp_path / "small", "1m") as disk:
        spool = Spool(disk / "spool")
        fill(disk)

        async def run() -> UsageRecorder:
            recorder = UsageRecorder(store_down, spool=spool, is_malformed=is_malformed, max_pending=50)
            for i in range(80):
                recorder.record(event(f"r{i}"))
            with pytest.raises(UsageStoreUnavailable):
                await recorder.flush()
            for i in range(80, 100):
                recorder.record(event(f"r{i}"))
            return recorder

        with caplog.at_level(logging.ERROR, logger="vaultgate.usage"):
            recorder = asyncio.run(run())
        stats = recorder.stats()
        assert (stats.queued, stats.spooled, stats.dropped) == (50, 0, 50)
        assert [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()], caplog.text
        assert any("spooling 50 usage events failed" in r.getMessage() for r in caplog.records), caplog.text
        assert not (disk / "spool").exists() or all(f.stat().st_size == 0 for f in (disk / "spool").iterdir())


def test_a_replay_on_a_full_disk_writes_each_event_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay records its progress without needing new space once begun, and begins only if it can."""
    monkeypatch.setattr("vaultgate.usage.spool.REPLAY_CHUNK", 3)
    written: list[str] = []
    fail_at: list[str] = []

    def store(batch: Sequence[UsageRecord]) -> None:
        if fail_at and batch[0].request_id == fail_at[0]:
            fail_at.clear()
            raise OSError("the database went away")
        written.extend(r.request_id for r in batch)

    with small_filesystem(tmp_path / "small", "1m") as disk:
        spool = Spool(disk / "spool")
        spool.append([event(f"r{i}") for i in range(8)])
        filler = fill(disk)
        with pytest.raises(OSError):  # it cannot record progress: it writes nothing
            spool.replay(store, lambda line: None)
        assert written == []
        filler.unlink()
        fail_at.append("r3")
        with pytest.raises(OSError):  # begun with room, cut short by the store after one chunk
            spool.replay(store, lambda line: None)
        fill(disk)
        assert spool.replay(store, lambda line: None) == 5  # goes on, on a full disk
    assert written == [f"r{i}" for i in range(8)]
