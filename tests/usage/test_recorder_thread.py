"""The usage writer has a thread of its own: when every thread of the shared pool is stuck (store calls
behind a partition, each waiting for its connect timeout), events still reach the spool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vaultgate.usage.events import UsageRecord
from vaultgate.usage.recorder import UsageRecorder, UsageStoreUnavailable
from vaultgate.usage.spool import Spool


def event(request_id: str) -> UsageRecord:
    return UsageRecord(
        datetime.now(UTC), request_id, "mem", "key", "p", "chat/completions", "m", 200, None, False, 1, 1, 1.0, None
    )


def store_down(batch: Sequence[UsageRecord]) -> None:
    raise OSError("the database is unreachable")


def test_events_are_spooled_while_the_shared_thread_pool_is_stuck(tmp_path: Path) -> None:
    stuck = threading.Event()

    async def run() -> UsageRecorder:
        loop = asyncio.get_running_loop()
        # More blocked calls than the shared pool has threads (at most 32): nothing else gets one.
        blocked = [loop.run_in_executor(None, stuck.wait) for _ in range(40)]
        recorder = UsageRecorder(store_down, spool=Spool(tmp_path))
        try:
            for i in range(3):
                recorder.record(event(f"r{i}"))
            with pytest.raises(UsageStoreUnavailable):
                await asyncio.wait_for(recorder.flush(), timeout=30)
        finally:
            stuck.set()
            await asyncio.gather(*blocked)
            await recorder.stop()
        return recorder

    recorder = asyncio.run(run())
    assert (recorder.spooled, recorder.stats().queued, recorder.dropped) == (3, 0, 0)
