"""SIGTERM under load loses no usage event: every answered request is in the database after shutdown."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from tests.support.process import GatewayProcess, initialised
from tests.support.servers import ThreadedServer
from tests.support.upstream import CaptureUpstream
from vaultgate.config import Settings
from vaultgate.services import keys, members
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.store.models import UsageEvent


def test_sigterm_under_load_loses_no_usage_event(
    tmp_path: Path, capture_upstream: tuple[CaptureUpstream, ThreadedServer]
) -> None:
    capture, upstream = capture_upstream
    answer = capture._answer

    async def slow(*args: Any) -> None:  # requests are in flight when the signal arrives
        await asyncio.sleep(0.2)
        await answer(*args)

    capture._answer = slow  # type: ignore[method-assign]
    data = tmp_path / "data"
    # A long flush interval: events are still in memory when SIGTERM arrives, only the shutdown flush saves them.
    settings = Settings(data_dir=data)
    cp = initialised(settings, upstream.url)
    members.add(cp, LOCAL_OPERATOR, "alice")
    key = keys.create(cp, LOCAL_OPERATOR, "alice", limits={"rpm": 100_000, "budget_usd": 100}).token
    gateway = GatewayProcess(data, tmp_path / "gateway.log", {"VAULTGATE_USAGE_FLUSH_INTERVAL": "30"})
    proc = gateway.proc
    url = gateway.url + "/v1/chat/completions"
    try:
        answered: list[str] = []

        async def worker(http: httpx.AsyncClient, stop: asyncio.Event) -> None:
            while not stop.is_set():
                try:
                    reply = await http.post(
                        url,
                        json={"model": "gpt-4o-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "x"}]},
                        headers={"authorization": f"Bearer {key}"},
                    )
                except httpx.TransportError:
                    return  # the server stopped accepting: shutdown has begun
                answered.append(reply.headers["x-request-id"])

        async def load() -> None:
            stop = asyncio.Event()
            async with httpx.AsyncClient(timeout=30) as http:
                tasks = [asyncio.create_task(worker(http, stop)) for _ in range(16)]
                # Enough answers first, however loaded the machine (no timing margin), with 16 still in flight.
                deadline = asyncio.get_running_loop().time() + 120
                while len(answered) < 60 and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.05)
                proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(1.0)
                stop.set()
                await asyncio.gather(*tasks)

        asyncio.run(load())
        # uvicorn re-raises the signal after its graceful shutdown, so -SIGTERM is a clean exit here.
        assert proc.wait(30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(answered) > 50
    with cp.store.session() as session:
        recorded = set(session.scalars(select(UsageEvent.request_id)).all())
    cp.store.dispose()
    missing = [rid for rid in answered if rid not in recorded]
    assert missing == [], f"{len(missing)} of {len(answered)} answered requests have no usage event"
