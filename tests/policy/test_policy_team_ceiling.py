"""Property: no key is ever allowed more than its team's ceiling, and a short-lived token no more than its key."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.policy.request_facts import request_facts

from vaultgate.policy.decide import RequestFacts, decide
from vaultgate.policy.effective import combine
from vaultgate.policy.grants import KeyGrant, KeyPolicy
from vaultgate.policy.scopes import GROUPS, Level

NOW = datetime(2026, 11, 26, tzinfo=UTC)
MODELS = ["gpt-4o", "gpt-4o-mini", "o3", "text-embedding-3-small"]
PATTERNS = ["gpt-4o*", "gpt-4o", "o3", "*", "text-*"]
NETS = ["127.0.0.0/8", "10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0"]
PATHS = {
    "models": "/v1/models",
    "chat": "/v1/chat/completions",
    "embeddings": "/v1/embeddings",
    "moderations": "/v1/moderations",
}

policies = st.builds(
    lambda models, scopes, nets: KeyPolicy(
        models=tuple(models),
        scopes=MappingProxyType(scopes),
        ip_allow=tuple(ipaddress.ip_network(n) for n in nets),
    ),
    st.lists(st.sampled_from(PATTERNS), max_size=2),
    st.dictionaries(st.sampled_from(GROUPS), st.sampled_from(list(Level)), max_size=4),
    st.lists(st.sampled_from(NETS), max_size=2),
)
requests = st.builds(
    lambda group, method, model, ip: request_facts(method, PATHS[group], model, ipaddress.ip_address(ip)),
    st.sampled_from(sorted(PATHS)),
    st.sampled_from(["GET", "POST"]),
    st.one_of(st.none(), st.sampled_from(MODELS)),
    st.sampled_from(["127.0.0.1", "10.1.2.3", "198.51.100.4", "2001:db8::1"]),
)


def grant(policy: KeyPolicy, *ceilings: KeyPolicy) -> KeyGrant:
    # As the snapshot builds it: the key's policy combined with its ceilings, once.
    return KeyGrant("key_1", "mem_1", "alice", "team_1", combine(policy, *ceilings), None)


@settings(max_examples=400, deadline=None)
@given(key=policies, team=policies, facts=requests)
def test_a_key_never_exceeds_its_team_ceiling(key: KeyPolicy, team: KeyPolicy, facts: RequestFacts) -> None:
    if decide(grant(key, team), facts, NOW) is None:
        assert decide(grant(team), facts, NOW) is None, "allowed beyond the team's ceiling"
        assert decide(grant(key), facts, NOW) is None, "allowed beyond the key's own policy"


@settings(max_examples=300, deadline=None)
@given(token=policies, key=policies, team=policies, facts=requests)
def test_a_short_lived_token_never_exceeds_its_key(
    token: KeyPolicy, key: KeyPolicy, team: KeyPolicy, facts: RequestFacts
) -> None:
    if decide(grant(token, key, team), facts, NOW) is None:
        for alone in (key, team):
            assert decide(grant(alone), facts, NOW) is None
