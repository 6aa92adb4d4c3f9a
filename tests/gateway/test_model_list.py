"""``/v1/models``: the upstream's list plus the exact route names, once each, narrowed to the key."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from tests.gateway.test_routing import EU, GLOBAL, provider, route

from vaultgate.gateway.model_list import narrowed
from vaultgate.gateway.route_table import RouteTable
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.policy.grants import KeyPolicy
from vaultgate.upstream.config import Deployment

EU_DEFAULT = provider("home", default=True, geography="eu")
SNAP = Snapshot(
    providers=MappingProxyType({p.name: p for p in (EU_DEFAULT, EU, GLOBAL)}),
    default_provider="home",
    routes=RouteTable.of(
        [
            route("fast", Deployment(EU, "eu-4o")),
            route("gpt-4o", Deployment(GLOBAL)),  # also in the upstream's list: listed once
            route("wide", Deployment(GLOBAL, "g-4o")),
            route("gpt-*", Deployment(EU)),
        ]
    ),
)
UPSTREAM = {"object": "list", "data": [{"id": m, "object": "model"} for m in ("gpt-4o", "o3", "gpt-4o")]}


def ids(document: Any) -> list[str]:
    return [m["id"] for m in document["data"]]


def test_aliases_are_merged_once_and_patterns_are_not_listed() -> None:
    assert ids(narrowed(UPSTREAM, SNAP, KeyPolicy())) == ["gpt-4o", "o3", "fast", "wide"]


def test_the_key_allowlist_and_residency_narrow_both_parts() -> None:
    assert ids(narrowed(UPSTREAM, SNAP, KeyPolicy(models=("gpt-*", "fast")))) == ["gpt-4o", "fast"]
    # Residency eu: gpt-4o and wide go only to a global deployment; o3 to the EU default; fast to the EU one.
    assert ids(narrowed(UPSTREAM, SNAP, KeyPolicy.from_json({"residency": ["eu"]}))) == ["o3", "fast"]
