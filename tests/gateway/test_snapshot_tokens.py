"""The refresher reloads only tokens when only the token counter moved, and never serves a token
whose parent secret left the snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import MappingProxyType

from vaultgate.gateway.snapshot import Refresher, Snapshot
from vaultgate.policy.grants import KeyGrant, KeyPolicy

PARENT = KeyGrant("key_1", "mem_1", "alice", None, KeyPolicy(), None)
TOKEN = KeyGrant("key_1", "mem_1", "alice", None, KeyPolicy(models=("gpt-4o",)), None, short_lived=True)


class Store:
    def __init__(self) -> None:
        self.revisions = (1, 1)
        self.grants: dict[str, KeyGrant] = {"parent": PARENT}
        self.tokens: dict[str, KeyGrant] = {}
        self.full_loads = 0
        self.token_loads = 0

    def load(self) -> Snapshot:
        self.full_loads += 1
        return Snapshot(
            grants=MappingProxyType(dict(self.grants)),
            tokens=MappingProxyType(dict(self.tokens)),
            revision=self.revisions[0],
            token_revision=self.revisions[1],
        )

    def load_tokens(self, current: Snapshot) -> tuple[Mapping[str, KeyGrant], int]:
        self.token_loads += 1
        live = {d: g for d, g in self.tokens.items() if "parent" in current.grants}
        return MappingProxyType(live), self.revisions[1]


def refresher(store: Store) -> Refresher:
    return Refresher(store.load, lambda: store.revisions, load_tokens=store.load_tokens)


def test_only_tokens_are_reloaded_when_only_the_token_counter_moved() -> None:
    async def run() -> None:
        store = Store()
        r = refresher(store)
        r._swap(store.load())
        store.tokens["tok"] = TOKEN
        store.revisions = (1, 2)
        await r.refresh()
        assert (store.full_loads, store.token_loads) == (1, 1)
        assert r.current.grant("tok") is TOKEN and r.current.token_revision == 2
        store.revisions = (2, 2)
        await r.refresh()
        assert (store.full_loads, store.token_loads) == (2, 1)

    asyncio.run(run())


def test_a_token_issued_here_is_served_at_once_and_dies_with_its_parent() -> None:
    store = Store()
    r = refresher(store)
    r._swap(store.load())
    r.add_token("tok", TOKEN, "parent")
    assert r.current.grant("tok") is TOKEN
    r._swap(store.load())  # a reload that started before the token was stored keeps it
    assert r.current.grant("tok") is TOKEN
    del store.grants["parent"]  # the parent secret was revoked or rotated out
    r._swap(store.load())
    assert r.current.grant("tok") is None
