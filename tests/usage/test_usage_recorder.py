"""The batched usage recorder loses nothing to a store outage; only malformed events are set aside."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DataError, OperationalError

from vaultgate.services.usage import is_malformed
from vaultgate.usage.events import UsageRecord
from vaultgate.usage.recorder import UsageRecorder, UsageStoreUnavailable
from vaultgate.usage.spool import REJECTED_FILE, Spool, decode


def event(request_id: str) -> UsageRecord:
    return UsageRecord(
        datetime.now(UTC), request_id, "mem", "key", "p", "chat/completions", "m", 200, None, False, 1, 1, 1.0, None
    )


def down() -> OperationalError:
    return OperationalError("INSERT", {}, Exception("the database system is starting up"))


def too_long() -> DataError:
    return DataError("INSERT", {}, Exception("value too long for type character varying(40)"))


class Store:
    """A sink that is down while ``failing`` > 0 (one failure per call), and refuses 'poison' records."""

    def __init__(self, failing: int = 0) -> None:
        self.failing = failing
        self.rows: list[str] = []
        self.calls = 0

    def __call__(self, batch: Sequence[UsageRecord]) -> None:
        self.calls += 1
        if self.failing > 0:
            self.failing -= 1
            raise down()
        if any(e.request_id.startswith("poison") for e in batch):
            raise too_long()
        self.rows.extend(e.request_id for e in batch)


def test_an_outage_keeps_every_event_in_memory_without_a_spool() -> None:
    store = Store(failing=1)

    async def run() -> UsageRecorder:
        recorder = UsageRecorder(store, is_malformed=is_malformed)
        for i in range(5):
            recorder.record(event(f"r{i}"))
        with pytest.raises(UsageStoreUnavailable):
            await recorder.flush()
        assert recorder.stats().queued == 5 and recorder.stats().outage_seconds is not None
        await recorder.flush()
        return recorder

    recorder = asyncio.run(run())
    assert store.rows == [f"r{i}" for i in range(5)]
    assert (recorder.dropped, recorder.rejected, recorder.stats().outage_seconds) == (0, 0, None)


def test_an_outage_during_one_by_one_writes_drops_nothing(tmp_path: Path) -> None:
    """The issue's loss: a batch refused while the database was starting up was retried one event at a
    time, and every event that failed then was dropped as malformed. Here the store refuses the batch
    for a malformed record, then goes down in the middle of the one-by-one writes."""
    store = Store()
    spool = Spool(tmp_path)

    async def run() -> UsageRecorder:
        recorder = UsageRecorder(store, spool=spool, is_malformed=is_malformed)
        for rid in ("a", "poison", "b", "c", "d"):
            recorder.record(event(rid))
        original = store.__call__

        def flaky(batch: Sequence[UsageRecord]) -> None:
            # The batch and "a", "poison" go through the store's own checks; then it goes down for 2 calls.
            if store.calls == 3:
                store.failing = 2
            original(batch)

        recorder._sink = flaky
        with pytest.raises(UsageStoreUnavailable):  # "b" fails: the store went down
            await recorder.flush()
        with pytest.raises(UsageStoreUnavailable):  # still down: b, c, d stay spooled
            await recorder.flush()
        await recorder.flush()  # back: replayed
        return recorder

    recorder = asyncio.run(run())
    assert sorted(store.rows) == ["a", "b", "c", "d"]
    assert (recorder.rejected, recorder.dropped) == (1, 0)
    rejected = (tmp_path / REJECTED_FILE).read_bytes().splitlines()
    assert [decode(line).request_id for line in rejected] == ["poison"]


def test_events_spool_to_disk_during_an_outage_and_replay_once_in_order(tmp_path: Path) -> None:
    store = Store(failing=3)
    spool = Spool(tmp_path)

    async def run() -> UsageRecorder:
        recorder = UsageRecorder(store, spool=spool, is_malformed=is_malformed, max_pending=1000)
        for tick in range(3):
            for i in range(4):
                recorder.record(event(f"t{tick}-{i}"))
            with pytest.raises(UsageStoreUnavailable):
                await recorder.flush()
            assert recorder.stats().queued == 0  # on disk, not in memory
        recorder.record(event("after"))
        await recorder.flush()
        return recorder

    recorder = asyncio.run(run())
    expected = [f"t{tick}-{i}" for tick in range(3) for i in range(4)]
    assert store.rows == ["after", *expected]
    assert (recorder.spooled, recorder.replayed, recorder.dropped) == (12, 12, 0)
    assert list(tmp_path.iterdir()) == []  # replayed files are gone


def test_stop_during_an_outage_spools_and_the_next_start_replays(tmp_path: Path) -> None:
    store = Store(failing=10**6)

    async def first_run() -> UsageRecorder:
        recorder = UsageRecorder(store, spool=Spool(tmp_path), is_malformed=is_malformed, flush_interval=60)
        await recorder.start()
        for i in range(7):
            recorder.record(event(f"r{i}"))
        await recorder.stop()  # SIGTERM while the database is down
        return recorder

    first = asyncio.run(first_run())
    assert (first.spooled, first.dropped) == (7, 0) and store.rows == []
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600

    store.failing = 0

    async def second_run() -> UsageRecorder:
        recorder = UsageRecorder(store, spool=Spool(tmp_path), is_malformed=is_malformed, flush_interval=60)
        await recorder.start()
        await recorder.stop()
        return recorder

    second = asyncio.run(second_run())
    assert store.rows == [f"r{i}" for i in range(7)] and second.replayed == 7


def test_a_replay_cut_short_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vaultgate.usage.spool.REPLAY_CHUNK", 3)
    spool = Spool(tmp_path)
    spool.append([event(f"r{i}") for i in range(8)])
    store = Store()
    failed = []

    def fails_on_second_chunk(batch: Sequence[UsageRecord]) -> None:
        if batch[0].request_id == "r3" and not failed:
            failed.append(True)
            raise down()
        store(batch)

    with pytest.raises(OperationalError):
        spool.replay(fails_on_second_chunk, lambda line: None)
    assert store.rows == ["r0", "r1", "r2"]
    assert spool.replay(fails_on_second_chunk, lambda line: None) == 5
    assert store.rows == [f"r{i}" for i in range(8)]  # each exactly once


def test_only_values_the_database_rejects_count_as_malformed() -> None:
    assert is_malformed(too_long())
    assert not is_malformed(down())
    assert not is_malformed(OSError("disk full"))
    assert not is_malformed(TimeoutError())


def test_the_queue_is_bounded_when_neither_the_store_nor_the_disk_takes_events(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")  # the spool cannot be created under a file: the disk refuses, like a full one
    store = Store(failing=10**6)

    async def run() -> UsageRecorder:
        recorder = UsageRecorder(store, spool=Spool(blocked / "spool"), is_malformed=is_malformed, max_pending=5)
        for i in range(8):
            recorder.record(event(f"r{i}"))
        with pytest.raises(UsageStoreUnavailable):
            await recorder.flush()
        return recorder

    recorder = asyncio.run(run())
    assert recorder.stats().queued == 5 and recorder.dropped == 3
