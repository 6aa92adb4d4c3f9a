"""Property: the effective policy never allows what any of its inputs refuses, field by field.

The strategies are built by iterating ``dataclasses.fields`` of ``KeyPolicy`` and ``PrivacyPolicy``:
a field added to either without a strategy here (a KeyError at import) or without a combine
rule in ``policy.effective.RULES`` (a TypeError at import of the module) fails this file.
"""

from __future__ import annotations

import ipaddress
from dataclasses import fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vaultgate.detect.pii_rules import Entity
from vaultgate.policy.decide import RequestFacts, decide
from vaultgate.policy.effective import RULES, combine, pattern_within, wider_fields
from vaultgate.policy.grants import KeyGrant, KeyPolicy, model_pattern
from vaultgate.policy.scopes import GROUPS, Level
from vaultgate.privacy.modes import DEFAULT_PII, MODE_ORDER, RESPONSE_ORDER, SECRET_ORDER, Mode, PrivacyPolicy

NOW = datetime(2026, 11, 30, tzinfo=UTC)
PATTERNS = ["gpt-4o*", "gpt-4o", "gpt-4o-mini", "o3", "*", "text-*", "*-mini", "org/*", "o?-mini"]
MODELS = ["gpt-4o", "gpt-4o-mini", "o3", "o3-mini", "text-embedding-3-small", "org/model", "gpt-4o/../files", "o?-mini"]
NETS = ["127.0.0.0/8", "10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "0.0.0.0/0", "::ffff:10.0.0.0/104"]
ADDRESSES = ["127.0.0.1", "10.1.2.3", "10.9.9.9", "198.51.100.4", "2001:db8::1", "::ffff:10.1.2.3"]
PATHS = ["/v1/models", "/v1/models/gpt-4o", "/v1/chat/completions", "/v1/embeddings", "/v1/moderations", "/v1/files"]

patterns = st.lists(st.sampled_from(PATTERNS), max_size=3).map(tuple)
networks = st.lists(st.sampled_from(NETS).map(ipaddress.ip_network), max_size=3).map(tuple)

PRIVACY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "pii": st.dictionaries(st.sampled_from(list(Entity)), st.sampled_from(list(Mode)), max_size=4).map(
        lambda chosen: MappingProxyType({**DEFAULT_PII, **chosen})
    ),
    "secrets": st.sampled_from(SECRET_ORDER),
    "response_pii": st.sampled_from(RESPONSE_ORDER),
}
privacy_policies = st.fixed_dictionaries({f.name: PRIVACY_FIELDS[f.name] for f in fields(PrivacyPolicy) if f.init}).map(
    lambda values: PrivacyPolicy(**values)
)

# Processing zones of deployments; None: a global deployment or one of unknown geography.
ZONES: tuple[str | None, ...] = ("eu", "us", "apac", None)

POLICY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "models": patterns,
    "model_ceilings": st.lists(patterns.filter(bool), max_size=2).map(tuple),
    "scopes": st.dictionaries(st.sampled_from(GROUPS), st.sampled_from(list(Level)), max_size=4).map(MappingProxyType),
    "ip_allow": networks,
    "ip_ceilings": st.lists(networks.filter(bool), max_size=2).map(tuple),
    "allow_store": st.booleans(),
    "privacy": st.none() | privacy_policies,
    "residency": st.none() | st.frozensets(st.sampled_from(ZONES[:-1]), max_size=3),
    "zero_retention": st.booleans(),
}
policies = st.fixed_dictionaries({f.name: POLICY_FIELDS[f.name] for f in fields(KeyPolicy) if f.init}).map(
    lambda values: KeyPolicy(**values)
)
requests = st.builds(
    RequestFacts,
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(PATHS),
    st.none() | st.sampled_from(MODELS),
    st.none() | st.sampled_from(ADDRESSES).map(ipaddress.ip_address),
)


def allowed(policy: KeyPolicy, facts: RequestFacts) -> bool:
    return decide(KeyGrant("key_1", "mem_1", "alice", "team_1", policy, None), facts, NOW) is None


def test_every_policy_field_has_a_rule_and_a_strategy() -> None:
    settable = {f.name for f in fields(KeyPolicy) if f.init}
    assert settable == set(RULES) == set(POLICY_FIELDS)
    assert {f.name for f in fields(PrivacyPolicy) if f.init} == set(PRIVACY_FIELDS)


@settings(max_examples=400, deadline=None)
@given(
    org=st.none() | policies,
    team=st.none() | policies,
    key=policies,
    token=st.none() | policies,
    facts=requests,
)
def test_the_effective_policy_allows_only_what_every_input_allows(
    org: KeyPolicy | None, team: KeyPolicy | None, key: KeyPolicy, token: KeyPolicy | None, facts: RequestFacts
) -> None:
    inputs = [p for p in (org, team, key, token) if p is not None]
    effective = combine(key, team, org, token)
    if allowed(effective, facts):
        for policy in inputs:
            assert allowed(policy, facts), f"allowed beyond {policy}"
    for policy in inputs:
        # Field by field, whatever the input restricts the effective policy restricts at least as much.
        assert wider_fields(effective, policy, inherit=False) == ()
        assert effective.allow_store <= policy.allow_store
        assert effective.zero_retention >= policy.zero_retention  # true, the strict value, is never lost
        for group in GROUPS:
            assert effective.level(group) <= policy.level(group)
        for address in ADDRESSES:
            ip = ipaddress.ip_address(address)
            assert not effective.allows_ip(ip) or policy.allows_ip(ip)
        for model in MODELS:
            assert not effective.allows_model(model) or policy.allows_model(model)
        for zone in ZONES:
            assert not effective.allows_zone(zone) or policy.allows_zone(zone)
        if policy.privacy is not None:
            assert effective.privacy is not None
            for entity in Entity:
                assert MODE_ORDER.index(effective.privacy.mode(entity)) >= MODE_ORDER.index(policy.privacy.mode(entity))
            assert SECRET_ORDER.index(effective.privacy.secrets) >= SECRET_ORDER.index(policy.privacy.secrets)
            assert RESPONSE_ORDER.index(effective.privacy.response_pii) >= RESPONSE_ORDER.index(
                policy.privacy.response_pii
            )


@settings(max_examples=200, deadline=None)
@given(a=policies, b=policies, c=policies, facts=requests)
def test_the_order_of_combination_does_not_change_a_decision(
    a: KeyPolicy, b: KeyPolicy, c: KeyPolicy, facts: RequestFacts
) -> None:
    assert allowed(combine(a, b, c), facts) == allowed(combine(c, a, b), facts) == allowed(combine(b, c, a), facts)


@settings(max_examples=200, deadline=None)
@given(key=policies, parent=policies, facts=requests)
def test_a_token_never_exceeds_its_key(key: KeyPolicy, parent: KeyPolicy, facts: RequestFacts) -> None:
    key_effective = combine(key, parent)
    if allowed(combine(key_effective, parent), facts):
        assert allowed(key_effective, facts)


@settings(max_examples=300, deadline=None)
@given(policy=policies, ceiling=policies, facts=requests)
def test_a_policy_not_wider_than_its_ceiling_is_not_narrowed_by_it(
    policy: KeyPolicy, ceiling: KeyPolicy, facts: RequestFacts
) -> None:
    # wider_fields says nothing: then whatever the policy allows on its own, the combination allows too,
    # for every field the policy sets (unset ones inherit the ceiling by definition).
    if wider_fields(policy, ceiling, inherit=False):
        return
    assert allowed(policy, facts) == allowed(combine(policy, ceiling), facts)


WORDS = st.text(alphabet="ab/-*", max_size=6)


@settings(max_examples=500, deadline=None)
@given(pattern=WORDS, cover=WORDS, model=st.text(alphabet="ab/-*", max_size=8))
def test_pattern_within_is_sound(pattern: str, cover: str, model: str) -> None:
    if pattern_within(pattern, (cover,)) and model_pattern(pattern).fullmatch(model):
        assert model_pattern(cover).fullmatch(model)


def test_the_reported_case_names_every_wider_field() -> None:
    team = KeyPolicy.from_json({"privacy": {"pii": {"email": "block"}}})
    key = KeyPolicy.from_json({"allow_store": True, "privacy": {"pii": {"email": "allow", "card": "allow"}}})
    assert wider_fields(key, team) == ("allow_store", "privacy.pii.email", "privacy.pii.card")
    effective = combine(key, team)
    assert effective.allow_store is False
    assert effective.privacy is not None
    assert effective.privacy.mode(Entity("email")) is Mode.BLOCK
    assert effective.privacy.mode(Entity("card")) is Mode.REDACT


def test_unset_parts_of_a_key_inherit_and_are_not_wider() -> None:
    team = KeyPolicy.from_json({"models": ["gpt-4o*"], "scopes": {"chat": "read"}, "ip_allow": ["10.0.0.0/8"]})
    assert wider_fields(KeyPolicy(), team) == ()
    assert wider_fields(KeyPolicy.from_json({"models": ["gpt-4o-mini"], "ip_allow": ["10.1.0.0/16"]}), team) == ()
    assert wider_fields(KeyPolicy.from_json({"models": ["*"], "scopes": {"chat": "write"}}), team) == (
        "models",
        "scopes",
    )
    assert wider_fields(KeyPolicy(), team, inherit=False) == ("models", "scopes", "ip_allow")


def test_residency_is_the_intersection_and_a_key_may_only_narrow_it() -> None:
    org = KeyPolicy.from_json({"residency": ["eu", "us"]})
    team = KeyPolicy.from_json({"residency": "EU"})
    key = KeyPolicy.from_json({})
    effective = combine(key, team, org)
    assert effective.residency == frozenset({"eu"})
    assert effective.allows_zone("eu") and not effective.allows_zone("us") and not effective.allows_zone(None)
    assert wider_fields(KeyPolicy.from_json({"residency": ["eu", "us"]}), team) == ("residency",)
    assert wider_fields(key, team) == ()  # unset: inherits the team's
    assert wider_fields(key, team, inherit=False) == ("residency",)  # a replacing team policy would widen it
    assert KeyPolicy.from_json(effective.to_json()) == effective
    nowhere = combine(KeyPolicy.from_json({"residency": ["us"]}), team)
    assert nowhere.residency == frozenset() and not nowhere.allows_zone("us")
