"""decide(): the order and answers of the authorization checks, plus a property over random policies."""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.policy.request_facts import group_of, request_facts, takes_model

from vaultgate.gateway.errors import invalid_api_key
from vaultgate.policy.decide import Denial, RequestFacts, decide
from vaultgate.policy.grants import KeyGrant, KeyPolicy
from vaultgate.policy.scopes import GROUPS, Level, required_level

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
IP = ipaddress.ip_address("10.1.2.3")


def grant(policy: KeyPolicy | None = None, **overrides: object) -> KeyGrant:
    values: dict[str, object] = {
        "key_id": "key_1",
        "member_id": "mem_1",
        "member_name": "alice",
        "team_id": None,
        "policy": policy or KeyPolicy(),
        "expires_at": None,
    }
    values.update(overrides)
    return KeyGrant(**values)  # type: ignore[arg-type]


def facts(
    method: str = "POST",
    path: str = "/v1/chat/completions",
    model: str | None = "gpt-4o",
    client_ip: object = IP,
) -> RequestFacts:
    return request_facts(method, path, model, client_ip)


def test_unrestricted_key_is_allowed() -> None:
    assert decide(grant(), facts(), NOW) is None
    assert decide(grant(), facts("GET", "/v1/models", None), NOW) is None


def test_expired_key_gets_the_same_answer_as_an_unknown_key() -> None:
    denial = decide(grant(expires_at=NOW - timedelta(seconds=1)), facts(), NOW)
    unknown = invalid_api_key()
    assert denial is not None
    assert (denial.status, denial.code, denial.message, denial.param) == (
        unknown.status,
        unknown.code,
        unknown.message,
        unknown.param,
    )


def test_expiry_is_exact_at_the_instant() -> None:
    assert decide(grant(expires_at=NOW), facts(), NOW) is not None
    assert decide(grant(expires_at=NOW + timedelta(microseconds=1)), facts(), NOW) is None


def test_expiry_wins_over_every_other_reason() -> None:
    policy = KeyPolicy.from_json({"ip_allow": ["192.0.2.0/24"], "models": ["x"], "scopes": {"chat": "none"}})
    expired = grant(policy, expires_at=NOW - timedelta(days=1), member_active=False)
    denial = decide(expired, facts(), NOW)
    assert denial is not None and denial.status == 401 and denial.code == "invalid_api_key"


def test_suspended_member_is_403() -> None:
    denial = decide(grant(member_active=False), facts(), NOW)
    assert denial is not None
    assert (denial.status, denial.code) == (403, "permission_denied")
    assert "suspended" in denial.message


@pytest.mark.parametrize("client", [ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("2001:db8::1"), None])
def test_ip_outside_allowlist_is_403_ip_not_allowed(client: object) -> None:
    policy = KeyPolicy.from_json({"ip_allow": ["10.0.0.0/8"]})
    denial = decide(grant(policy), facts(client_ip=client), NOW)
    assert denial is not None
    assert (denial.status, denial.code) == (403, "ip_not_allowed")
    assert decide(grant(policy), facts(), NOW) is None


@pytest.mark.parametrize(
    ("level", "method", "allowed"),
    [
        ("none", "GET", False),
        ("none", "POST", False),
        ("read", "GET", True),
        ("read", "HEAD", True),
        ("read", "POST", False),
        ("read", "DELETE", False),
        ("write", "GET", True),
        ("write", "POST", True),
        ("write", "DELETE", True),
    ],
)
def test_scope_levels_against_methods(level: str, method: str, allowed: bool) -> None:
    policy = KeyPolicy.from_json({"scopes": {"models": level, "chat": "none"}})
    denial = decide(grant(policy), facts(method, "/v1/models/gpt-4o", None), NOW)
    if allowed:
        assert denial is None
    else:
        assert denial is not None
        assert (denial.status, denial.code) == (403, "permission_denied")
        assert "'models'" in denial.message


def test_scope_applies_to_every_path_of_the_group() -> None:
    policy = KeyPolicy.from_json({"scopes": {"chat": "read"}})
    for path in ("/v1/chat/completions", "/v1/responses", "/v1/completions"):
        denial = decide(grant(policy), facts("POST", path), NOW)
        assert denial is not None and denial.code == "permission_denied", path
    assert decide(grant(policy), facts("POST", "/v1/embeddings", "text-embedding-3-small"), NOW) is None


def test_model_outside_allowlist_is_403_model_not_allowed() -> None:
    policy = KeyPolicy.from_json({"models": ["gpt-4o-mini*"]})
    denial = decide(grant(policy), facts(model="gpt-4o"), NOW)
    assert denial == Denial(403, "model_not_allowed", "This key may not use the model 'gpt-4o'.", "model")
    assert decide(grant(policy), facts(model="gpt-4o-mini-2024-07-18"), NOW) is None
    # Requests that name no model (listing models) are not refused by the allowlist.
    assert decide(grant(policy), facts("GET", "/v1/models", None), NOW) is None


@pytest.mark.parametrize(
    "path", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/moderations", "/v1/completions"]
)
def test_a_model_endpoint_without_model_under_an_allowlist_is_400_model_required(path: str) -> None:
    policy = KeyPolicy.from_json({"models": ["gpt-4o-mini"]})
    denial = decide(grant(policy), facts("POST", path, None), NOW)
    assert denial is not None
    assert (denial.status, denial.code, denial.param) == (400, "model_required", "model")
    assert decide(grant(), facts("POST", path, None), NOW) is None  # no allowlist: the upstream's default


@pytest.mark.parametrize(
    ("pattern", "model", "allowed"),
    [
        ("gpt-4o*", "gpt-4o-mini", True),
        ("gpt-4o*", "gpt-4o/../../files", False),  # '*' never crosses '/'
        ("*", "ft:gpt-4o:org/x", False),
        ("*", "gpt-4o", True),
        ("o?-mini", "o3-mini", False),  # '?' is a literal character
        ("o?-mini", "o?-mini", True),
        ("gpt-[4]o", "gpt-4o", False),  # so is '['
        ("org/*", "org/model", True),
    ],
)
def test_model_wildcard_syntax(pattern: str, model: str, allowed: bool) -> None:
    assert KeyPolicy.from_json({"models": [pattern]}).allows_model(model) is allowed


def test_unserved_path_is_404() -> None:
    denial = decide(grant(), facts("POST", "/v1/admin/keys"), NOW)
    assert denial is not None and (denial.status, denial.code) == (404, "unknown_url")


def test_suspension_is_checked_before_ip_and_ip_before_scope() -> None:
    policy = KeyPolicy.from_json({"ip_allow": ["192.0.2.0/24"], "scopes": {"chat": "none"}, "models": ["x"]})
    assert decide(grant(policy, member_active=False), facts(), NOW).code == "permission_denied"  # type: ignore[union-attr]
    assert decide(grant(policy), facts(), NOW).code == "ip_not_allowed"  # type: ignore[union-attr]
    inside = facts(client_ip=ipaddress.ip_address("192.0.2.5"))
    denial = decide(grant(policy), inside, NOW)
    assert denial is not None and denial.code == "permission_denied"


# --- property: an allowed request satisfies every individual rule ---------------------------------

MODELS = ["gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small", "omni-moderation-latest"]
PATTERNS = [*MODELS, "gpt-4o*", "*-mini", "o?-mini", "text-*"]
NETWORKS = ["10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32", "::1/128", "127.0.0.1/32"]
ADDRESSES = [
    "::ffff:10.9.9.9",
    "10.1.2.3",
    "10.200.0.1",
    "192.0.2.9",
    "198.51.100.1",
    "2001:db8::5",
    "::1",
    "127.0.0.1",
    "fe80::1",
]
PATHS = [
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/moderations",
    "/v1/models",
    "/v1/models/gpt-4o",
    "/v1/files",
    "/v1/unknown",
]

policies = st.builds(
    lambda models, scopes, nets, store: KeyPolicy.from_json(
        {"models": models, "scopes": scopes, "ip_allow": nets, "allow_store": store}
    ),
    st.lists(st.sampled_from(PATTERNS), max_size=3),
    st.dictionaries(st.sampled_from(GROUPS), st.sampled_from(["none", "read", "write"]), max_size=4),
    st.lists(st.sampled_from(NETWORKS), max_size=3),
    st.booleans(),
)
requests = st.builds(
    request_facts,
    st.sampled_from(["GET", "POST", "HEAD", "DELETE"]),
    st.sampled_from(PATHS),
    st.none() | st.sampled_from(MODELS),
    st.none() | st.sampled_from(ADDRESSES).map(ipaddress.ip_address),
)
expiries = st.none() | st.integers(min_value=-3, max_value=3).map(lambda d: NOW + timedelta(seconds=d))


@given(policy=policies, request=requests, expires_at=expiries, active=st.booleans())
@settings(max_examples=200)
def test_allowed_requests_satisfy_every_rule(
    policy: KeyPolicy, request: RequestFacts, expires_at: datetime | None, active: bool
) -> None:
    denial = decide(grant(policy, expires_at=expires_at, member_active=active), request, NOW)
    if denial is not None:
        assert denial.status in (400, 401, 403, 404)
        return
    assert expires_at is None or expires_at > NOW
    assert active
    if policy.ip_allow:
        assert request.client_ip is not None
        client = request.client_ip
        if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
            client = client.ipv4_mapped
        networks = [ipaddress.ip_network(n) for n in policy.to_json()["ip_allow"]]
        assert any(client in n for n in networks if n.version == client.version)
    group = group_of(request.path)
    assert group is not None
    level = policy.scopes.get(group, Level.WRITE)
    assert level >= required_level(request.method)
    if request.method not in ("GET", "HEAD"):
        assert level is Level.WRITE
    if request.model is not None and policy.models:
        assert any(_glob(p).fullmatch(request.model) for p in policy.models)
    if request.model is None and policy.models:
        assert not takes_model(request.method, request.path), "an allowlist was bypassed by leaving out the model"


def _glob(pattern: str) -> re.Pattern[str]:
    # The documented syntax, written independently: '*' is any run but '/', everything else literal.
    return re.compile("".join("[^/]*" if c == "*" else re.escape(c) for c in pattern))


@given(policy=policies, request=requests)
@settings(max_examples=200)
def test_denials_name_a_rule_that_really_fails(policy: KeyPolicy, request: RequestFacts) -> None:
    denial = decide(grant(policy), request, NOW)
    if denial is None:
        return
    if denial.code == "ip_not_allowed":
        assert not policy.allows_ip(request.client_ip)
    elif denial.code == "unknown_url":
        assert group_of(request.path) is None
    elif denial.code == "permission_denied":
        group = group_of(request.path)
        assert group is not None
        assert policy.level(group) < required_level(request.method)
    elif denial.code == "model_required":
        assert request.model is None and policy.models and takes_model(request.method, request.path)
    else:
        assert denial.code == "model_not_allowed"
        assert request.model is not None and not policy.allows_model(request.model)
