"""The refresher has a thread of its own: when every thread of the shared pool is stuck (store calls
behind a partition), the check that confirms the snapshot, or swaps in a new one, still runs."""

from __future__ import annotations

import asyncio
import threading

from vaultgate.gateway.snapshot import Refresher, Snapshot


def test_the_snapshot_is_checked_while_the_shared_thread_pool_is_stuck() -> None:
    stuck = threading.Event()

    async def run() -> int:
        # The store is at revision 2; the first load (at start) still saw 1.
        refresher = Refresher(lambda: Snapshot(revision=len(loaded) + 1), lambda: (2, 0), interval=60)
        await refresher.start()
        loop = asyncio.get_running_loop()
        # More blocked calls than the shared pool has threads (at most 32): nothing else gets one.
        blocked = [loop.run_in_executor(None, stuck.wait) for _ in range(40)]
        try:
            loaded.append(1)
            await asyncio.wait_for(refresher.refresh(), timeout=30)  # revision 1 -> 2: a reload
            return refresher.current.revision
        finally:
            stuck.set()
            await asyncio.gather(*blocked)
            await refresher.stop()

    loaded: list[int] = []
    assert asyncio.run(run()) == 2
