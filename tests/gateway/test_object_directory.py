"""The object directory: positive answers cached (bounded), absent ids asked again every time."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from vaultgate.gateway.object_directory import ObjectDirectory
from vaultgate.policy.ownership import ObjectOwner


class Table:
    """A store of owners that counts the ids it is asked about."""

    def __init__(self) -> None:
        self.rows: dict[str, ObjectOwner] = {}
        self.asked: list[str] = []

    def lookup(self, ids: Sequence[str]) -> Mapping[str, ObjectOwner]:
        self.asked += ids
        return {i: self.rows[i] for i in ids if i in self.rows}

    def record(self, owners: Sequence[ObjectOwner]) -> None:
        for owner in owners:
            self.rows.setdefault(owner.id, owner)

    def forget(self, object_id: str) -> None:
        self.rows.pop(object_id, None)


def owner(object_id: str) -> ObjectOwner:
    return ObjectOwner(object_id, "file", "alice", "red")


def test_found_owners_are_cached_absent_ids_are_not() -> None:
    table = Table()
    directory = ObjectDirectory(table.lookup, table.record, table.forget, cache_size=2)

    async def run() -> None:
        assert await directory.owners(["file-1"]) == {}
        await directory.record([owner("file-1")])  # as another replica would
        assert await directory.owners(["file-1"]) == {"file-1": owner("file-1")}  # asked again: found
        table.asked.clear()
        assert await directory.owners(["file-1"]) == {"file-1": owner("file-1")}
        assert table.asked == []  # from the cache
        await directory.forget("file-1")
        assert await directory.owners(["file-1"]) == {}

    asyncio.run(run())


def test_the_cache_is_bounded() -> None:
    table = Table()
    directory = ObjectDirectory(table.lookup, table.record, table.forget, cache_size=2)

    async def run() -> None:
        await directory.record([owner(f"file-{i}") for i in range(3)])
        await directory.owners(["file-0", "file-1", "file-2"])  # file-0 is evicted
        table.asked.clear()
        await directory.owners(["file-1", "file-2"])
        assert table.asked == []
        await directory.owners(["file-0"])
        assert table.asked == ["file-0"]

    asyncio.run(run())
