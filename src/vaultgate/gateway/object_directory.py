"""Where the data plane finds who owns an object id, without blocking on the database.

The store is reached through three blocking callables (wired in ``server.py``; the gateway
never imports the store), each run in a worker thread, and only for requests that name an
object or answers that create one. Positive answers are cached in a bounded LRU: an object
never changes owner, so a cached owner is never wrong (a deleted object's stale entry only
lets its own owner reach the upstream, which answers 404). Absent ids are never cached: an
object another replica just recorded must be found at once.

DirectoryUnavailable        the store could not answer (the request fails closed, 503)
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from vaultgate.policy.ownership import ObjectOwner

log = logging.getLogger("vaultgate.gateway")

Lookup = Callable[[Sequence[str]], Mapping[str, ObjectOwner]]
Record = Callable[[Sequence[ObjectOwner]], None]
Forget = Callable[[str], None]
_A = TypeVar("_A")
_R = TypeVar("_R")


class DirectoryUnavailable(Exception):
    """The ownership store failed; nothing may pass on a guess."""


class ObjectDirectory:
    """Owners of object ids: an LRU of positive answers in front of a blocking store."""

    def __init__(self, lookup: Lookup, record: Record, forget: Forget, *, cache_size: int = 100_000) -> None:
        self._lookup = lookup
        self._record = record
        self._forget = forget
        self._cache: OrderedDict[str, ObjectOwner] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def in_memory(cls) -> ObjectDirectory:
        """A directory held in this process only (tests and embedded use; one replica, nothing survives)."""
        table: dict[str, ObjectOwner] = {}

        def record(owners: Sequence[ObjectOwner]) -> None:
            for owner in owners:
                table.setdefault(owner.id, owner)

        def forget(object_id: str) -> None:
            table.pop(object_id, None)

        return cls(lambda ids: {i: table[i] for i in ids if i in table}, record, forget)

    async def owners(self, ids: Iterable[str]) -> dict[str, ObjectOwner]:
        """The owners of those ``ids`` that are recorded; DirectoryUnavailable when the store fails."""
        found: dict[str, ObjectOwner] = {}
        missing: list[str] = []
        for object_id in dict.fromkeys(ids):
            cached = self._cache.get(object_id)
            if cached is None:
                missing.append(object_id)
            else:
                self._cache.move_to_end(object_id)
                found[object_id] = cached
        if missing:
            looked_up = await self._call(self._lookup, missing)
            for object_id, owner in looked_up.items():
                self._remember(owner)
                found[object_id] = owner
        return found

    async def record(self, owners: Sequence[ObjectOwner]) -> None:
        """Record new objects (the store keeps an id's first owner); returns once they are stored."""
        if owners:
            await self._call(self._record, owners)

    async def forget(self, object_id: str) -> None:
        """Forget a deleted object here and in the store."""
        self._cache.pop(object_id, None)
        await self._call(self._forget, object_id)

    def _remember(self, owner: ObjectOwner) -> None:
        self._cache[owner.id] = owner
        self._cache.move_to_end(owner.id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    @staticmethod
    async def _call(function: Callable[[_A], _R], argument: _A) -> _R:
        try:
            return await asyncio.to_thread(function, argument)
        except Exception as exc:  # translated: the caller answers 503, never lets the request pass
            log.error("the ownership store failed (%s)", type(exc).__name__)
            raise DirectoryUnavailable from exc
