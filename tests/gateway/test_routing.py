"""Routing over snapshots: exact > most specific wildcard > Azure implicit > default; weights; residency."""

from __future__ import annotations

import random
from collections import Counter
from types import MappingProxyType

import pytest

from vaultgate.gateway import ownership
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.route_table import Route, RouteTable
from vaultgate.gateway.routing import candidates, processing_zone, servable
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.policy.grants import KeyGrant, KeyPolicy
from vaultgate.upstream.config import Deployment, ProviderConfig, ProviderKind


def provider(
    name: str,
    kind: ProviderKind = ProviderKind.COMPATIBLE,
    *,
    default: bool = False,
    deployments: dict[str, str] | None = None,
    geography: str | None = None,
    deployment_type: str | None = None,
) -> ProviderConfig:
    return ProviderConfig(
        name=name,
        kind=kind,
        base_url=f"https://{name}.example.com/v1",
        api_key="sk-" + name,
        deployments=MappingProxyType(deployments or {}),
        is_default=default,
        geography=geography,
        deployment_type=deployment_type,
    )


DEFAULT = provider("main", default=True)
B = provider("b")
C = provider("c")
AZURE = provider("az", ProviderKind.AZURE, deployments={"gpt-4o": "dep-4o", "gpt-4o-mini": "dep-mini"})
EU = provider("eu", ProviderKind.AZURE, deployments={"gpt-4o": "eu-4o"}, geography="eu", deployment_type="datazone")
GLOBAL = provider("glob", ProviderKind.AZURE, deployments={"gpt-4o": "g-4o"}, geography="eu", deployment_type="global")


def snapshot(*routes: Route, providers: tuple[ProviderConfig, ...] = (DEFAULT, B, C, AZURE, EU, GLOBAL)) -> Snapshot:
    return Snapshot(
        providers=MappingProxyType({p.name: p for p in providers}),
        default_provider=next((p.name for p in providers if p.is_default), None),
        routes=RouteTable.of(routes),
    )


def route(name: str, *targets: Deployment, strategy: str = "ordered") -> Route:
    return Route(name, strategy, targets)


def served(snap: Snapshot, model: str, policy: KeyPolicy | None = None) -> list[str]:
    return [d.key for d in candidates(snap, model, policy)]


def test_exact_route_beats_wildcards_which_beat_azure_implicit_which_beats_the_default() -> None:
    snap = snapshot(
        route("gpt-4o", Deployment(B)),
        route("gpt-4o*", Deployment(C)),
        route("gpt-*", Deployment(DEFAULT, "generic")),
    )
    assert served(snap, "gpt-4o") == ["b/*"]  # exact
    assert served(snap, "gpt-4o-mini") == ["c/*"]  # the more specific wildcard (6 literal characters, not 4)
    assert served(snap, "gpt-3.5") == ["main/generic"]  # the only wildcard that matches
    no_wild = snapshot(route("gpt-4o", Deployment(B)))
    assert served(no_wild, "gpt-4o-mini") == ["az/dep-mini"]  # no route: an Azure deployment for it
    assert served(no_wild, "o3") == ["main/*"]  # nothing else: the default provider


def test_the_most_specific_wildcard_wins_whatever_the_order_they_were_added() -> None:
    broad, narrow = route("*", Deployment(B)), route("ft:gpt-4o*", Deployment(C))
    for order in ((broad, narrow), (narrow, broad)):
        snap = snapshot(*order)
        assert served(snap, "ft:gpt-4o:org::abc") == ["c/*"]
        assert served(snap, "o3") == ["b/*"]


def test_a_wildcard_never_matches_across_a_slash() -> None:
    snap = snapshot(route("meta-llama/*", Deployment(B)), route("*", Deployment(C)))
    assert served(snap, "meta-llama/Llama-3.1-8B") == ["b/*"]
    assert served(snap, "meta-llama/x/../../files") == ["main/*"]  # neither pattern crosses '/'
    assert served(snap, "gpt-4o/evil") == ["main/*"]


def test_an_alias_sends_the_target_model_upstream() -> None:
    snap = snapshot(route("fast", Deployment(B, "gpt-4o-mini")))
    [deployment] = candidates(snap, "fast")
    assert (deployment.provider.name, deployment.model) == ("b", "gpt-4o-mini")


def test_an_azure_target_without_a_model_uses_the_providers_deployment_map() -> None:
    snap = snapshot(route("gpt-4o*", Deployment(AZURE), Deployment(B)))
    assert served(snap, "gpt-4o-mini") == ["az/dep-mini", "b/*"]
    assert served(snap, "gpt-4o-audio") == ["b/*"]  # no deployment for it on az: that target is skipped
    only_azure = snapshot(route("gpt-4o*", Deployment(AZURE)))
    with pytest.raises(GatewayError) as refused:
        candidates(only_azure, "gpt-4o-audio")
    assert (refused.value.status, refused.value.code) == (404, "model_not_found")


def test_ordered_routes_keep_position_order() -> None:
    snap = snapshot(route("m", Deployment(C), Deployment(B), Deployment(DEFAULT)))
    assert served(snap, "m") == ["c/*", "b/*", "main/*"]


def test_weighted_routes_pick_the_first_by_weight_and_keep_the_rest_in_position_order() -> None:
    snap = snapshot(
        route("m", Deployment(B, weight=1), Deployment(C, weight=3), Deployment(DEFAULT, weight=6), strategy="weighted")
    )
    rng = random.Random(20261130)
    firsts: Counter[str] = Counter()
    for _ in range(10_000):
        order = [d.key for d in candidates(snap, "m", rand=rng.random)]
        firsts[order[0]] += 1
        rest = [k for k in ["b/*", "c/*", "main/*"] if k != order[0]]
        assert order[1:] == rest  # failover in position order
    # A fixed seed: the same counts every run; the shares are near 10/30/60 %.
    assert 900 < firsts["b/*"] < 1100 and 2800 < firsts["c/*"] < 3200 and 5800 < firsts["main/*"] < 6200
    # The boundaries: rand() = 0 picks the first target, just below 1 the last.
    assert served_with(snap, 0.0)[0] == "b/*"
    assert served_with(snap, 0.1)[0] == "c/*"
    assert served_with(snap, 0.999)[0] == "main/*"


def served_with(snap: Snapshot, value: float) -> list[str]:
    return [d.key for d in candidates(snap, "m", rand=lambda: value)]


def test_processing_zone_follows_the_deployment_type() -> None:
    assert processing_zone(Deployment(EU)) == "eu"
    assert processing_zone(Deployment(GLOBAL)) is None  # global: anywhere
    assert processing_zone(Deployment(EU, deployment_type="global")) is None  # the target's type overrides
    assert processing_zone(Deployment(GLOBAL, deployment_type="regional")) == "eu"
    assert processing_zone(Deployment(B)) is None  # no geography: unknown


def test_residency_drops_deployments_outside_and_refuses_when_none_is_left() -> None:
    eu_only = KeyPolicy.from_json({"residency": ["eu"]})
    snap = snapshot(route("gpt-4o", Deployment(GLOBAL), Deployment(EU), Deployment(B)))
    assert served(snap, "gpt-4o") == ["glob/g-4o", "eu/eu-4o", "b/*"]
    assert served(snap, "gpt-4o", eu_only) == ["eu/eu-4o"]
    global_only = snapshot(route("gpt-4o", Deployment(GLOBAL)))
    with pytest.raises(GatewayError) as refused:
        candidates(global_only, "gpt-4o", eu_only)
    err = refused.value
    assert (err.status, err.code, err.param) == (403, "residency_not_allowed", "model")
    assert "gpt-4o" in err.message and "eu" in err.message
    assert "glob" not in err.message  # no provider names
    # No route: the default provider has no geography, so it satisfies no residency either.
    with pytest.raises(GatewayError):
        candidates(snapshot(), "o3", eu_only)
    assert not servable(global_only, "gpt-4o", eu_only) and servable(snap, "gpt-4o", eu_only)


def test_residency_applies_before_the_weighted_pick() -> None:
    eu_only = KeyPolicy.from_json({"residency": ["eu"]})
    snap = snapshot(route("gpt-4o", Deployment(GLOBAL, weight=1000), Deployment(EU, weight=1), strategy="weighted"))
    assert served_with_policy(snap, eu_only) == ["eu/eu-4o"]


def served_with_policy(snap: Snapshot, policy: KeyPolicy) -> list[str]:
    return [d.key for d in candidates(snap, "gpt-4o", policy, rand=lambda: 0.0)]


def test_no_provider_at_all_is_503() -> None:
    with pytest.raises(GatewayError) as refused:
        candidates(Snapshot(), "gpt-4o")
    assert (refused.value.status, refused.value.code) == (503, "no_provider")


def test_a_request_pinned_to_an_objects_provider_still_keeps_to_the_callers_residency() -> None:
    """An object kept at a provider outside the caller's residency is not reached through it (pin's fallback)."""
    us = provider("us", geography="us", deployment_type="regional")
    snap = snapshot(providers=(DEFAULT, us, EU))
    ex = Exchange("GET", "/v1/files/file-1", b"", {}, None)
    ex.pinned_provider = "us"
    ex.grant = KeyGrant("key_1", "mem_1", "alice", None, KeyPolicy(residency=frozenset({"eu"})), None)
    with pytest.raises(GatewayError) as refused:
        ownership.pin(snap, ex, [Deployment(EU)])
    assert refused.value.code == "residency_not_allowed"
    ex.grant = KeyGrant("key_1", "mem_1", "alice", None, KeyPolicy(), None)
    assert [d.provider.name for d in ownership.pin(snap, ex, [Deployment(EU)])] == ["us"]
