"""The batched usage recorder: an outage keeps every event; one malformed event cannot block the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from vaultgate.usage.events import UsageRecord
from vaultgate.usage.recorder import UsageRecorder


def event(request_id: str) -> UsageRecord:
    return UsageRecord(
        datetime.now(UTC), request_id, "mem", "key", "p", "chat/completions", "m", 200, None, False, 1, 1, None, 1.0
    )


def test_an_outage_keeps_every_event_for_the_next_flush() -> None:
    written: list[str] = []
    down = True

    def sink(batch: Sequence[UsageRecord]) -> None:
        if down:
            raise ConnectionError("database down")
        written.extend(e.request_id for e in batch)

    async def run() -> None:
        nonlocal down
        recorder = UsageRecorder(sink)
        for i in range(5):
            recorder.record(event(f"r{i}"))
        with pytest.raises(ConnectionError):
            await recorder.flush()
        down = False
        await recorder.flush()
        assert recorder.dropped == 0

    asyncio.run(run())
    assert written == [f"r{i}" for i in range(5)]


def test_a_malformed_event_is_dropped_and_the_others_written() -> None:
    written: list[str] = []

    def sink(batch: Sequence[UsageRecord]) -> None:
        if any(e.request_id == "poison" for e in batch):
            raise ValueError("value too long for column")
        written.extend(e.request_id for e in batch)

    async def run() -> UsageRecorder:
        recorder = UsageRecorder(sink)
        for rid in ("a", "poison", "b"):
            recorder.record(event(rid))
        with pytest.raises(ValueError):
            await recorder.flush()
        recorder.record(event("c"))
        await recorder.flush()
        return recorder

    recorder = asyncio.run(run())
    assert written == ["a", "b", "c"]
    assert recorder.dropped == 1
