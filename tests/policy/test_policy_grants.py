"""KeyPolicy: validation of the JSON form, model wildcards, IPv4 and IPv6 allowlists."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from vaultgate.policy.grants import KeyPolicy, PolicyError, parse_network
from vaultgate.policy.scopes import GROUPS, Level

ip = ipaddress.ip_address


def test_empty_policy_allows_everything() -> None:
    policy = KeyPolicy.from_json({})
    assert policy == KeyPolicy.from_json({"models": None, "scopes": None, "ip_allow": None})
    assert all(policy.level(g) is Level.WRITE for g in GROUPS)
    assert policy.allows_model("anything")
    assert policy.allows_ip(ip("203.0.113.9"))
    assert policy.allows_ip(None)
    assert policy.allow_store is False


def test_json_round_trip() -> None:
    data = {
        "models": ["gpt-4o*", "text-embedding-3-small"],
        "scopes": {"chat": "write", "files": "none", "models": "read"},
        "ip_allow": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"],
        "allow_store": True,
    }
    policy = KeyPolicy.from_json(data)
    assert policy.to_json() == {
        **data,
        "scopes": {"chat": "write", "files": "none", "models": "read"},
    }
    assert KeyPolicy.from_json(policy.to_json()) == policy
    assert policy.level("files") is Level.NONE
    assert policy.level("models") is Level.READ
    assert policy.level("embeddings") is Level.WRITE  # missing scopes mean write


def test_unknown_group_is_named_with_the_choices() -> None:
    with pytest.raises(PolicyError) as info:
        KeyPolicy.from_json({"scopes": {"chat": "read", "billing": "read"}})
    message = str(info.value)
    assert "'billing'" in message
    assert "chat" in message and "embeddings" in message


def test_unknown_level_names_group_and_value() -> None:
    with pytest.raises(PolicyError) as info:
        KeyPolicy.from_json({"scopes": {"files": "admin"}})
    message = str(info.value)
    assert message.startswith("scope files:")
    assert "'admin'" in message
    assert "none, read or write" in message


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "10.0.0.256", "not-an-ip", "2001:db8::/129", "", "1"])
def test_bad_cidr_is_named(bad: str) -> None:
    with pytest.raises(PolicyError) as info:
        KeyPolicy.from_json({"ip_allow": ["10.0.0.0/8", bad]})
    assert str(info.value) == f"not an IP address or CIDR: {bad!r}"


def test_unknown_fields_are_all_named() -> None:
    with pytest.raises(PolicyError) as info:
        KeyPolicy.from_json({"models": [], "rpm": 5, "budget": 1})
    assert str(info.value) == "unknown policy field(s): budget, rpm"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"models": "gpt-4o"}, "models"),
        ({"models": {"gpt-4o": True}}, "models"),
        ({"models": [["gpt-4o"]]}, "models"),
        ({"ip_allow": "10.0.0.0/8"}, "ip_allow"),
        ({"scopes": ["chat"]}, "scopes"),
        ({"scopes": "chat=read"}, "scopes"),
        ({"allow_store": "false"}, "allow_store"),
        ({"allow_store": "no"}, "allow_store"),
        ({"allow_store": 1}, "allow_store"),
    ],
)
def test_wrongly_typed_fields_are_refused_not_misread(data: dict[str, Any], field: str) -> None:
    # {"models": "gpt-4o"} must not become the allowlist g, p, t, -, 4, o; and
    # {"allow_store": "false"} must never switch storing on.
    with pytest.raises(PolicyError, match=field):
        KeyPolicy.from_json(data)


def test_blank_model_entries_are_dropped() -> None:
    assert KeyPolicy.from_json({"models": ["gpt-4o", " ", ""]}).models == ("gpt-4o",)


@pytest.mark.parametrize(
    ("patterns", "model", "allowed"),
    [
        (["gpt-4o*"], "gpt-4o", True),
        (["gpt-4o*"], "gpt-4o-mini", True),
        (["gpt-4o*"], "gpt-4", False),
        (["gpt-4o*"], "GPT-4O", False),
        (["gpt-4o*"], "my-gpt-4o", False),
        (["gpt-4o"], "gpt-4o-mini", False),
        (["*-mini"], "gpt-4o-mini", True),
        (["o?-mini"], "o3-mini", False),  # only "*" is a wildcard: "?" is literal
        (["o?-mini"], "o10-mini", False),
        (["text-embedding-3-*", "gpt-4.1"], "text-embedding-3-large", True),
        (["text-embedding-3-*", "gpt-4.1"], "gpt-4x1", False),
    ],
)
def test_model_allowlist_wildcards(patterns: list[str], model: str, allowed: bool) -> None:
    assert KeyPolicy.from_json({"models": patterns}).allows_model(model) is allowed


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.3", True),
        ("10.255.255.255", True),
        ("11.0.0.0", False),
        ("192.0.2.7", True),
        ("192.0.2.8", False),
        ("2001:db8::1", True),
        ("2001:db8:ffff::1", True),
        ("2001:db9::1", False),
        ("::1", False),
        ("127.0.0.1", False),
        # A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6 addresses.
        ("::ffff:10.1.2.3", True),
        ("::ffff:11.0.0.1", False),
    ],
)
def test_ip_allowlist_ipv4_and_ipv6(address: str, allowed: bool) -> None:
    policy = KeyPolicy.from_json({"ip_allow": ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]})
    assert policy.allows_ip(ip(address)) is allowed


def test_ipv4_only_allowlist_refuses_ipv6_and_unknown_clients() -> None:
    policy = KeyPolicy.from_json({"ip_allow": ["0.0.0.0/0"]})
    assert policy.allows_ip(ip("8.8.8.8"))
    assert not policy.allows_ip(ip("2001:db8::1"))
    assert not policy.allows_ip(None)


def test_ipv6_only_allowlist_refuses_ipv4() -> None:
    policy = KeyPolicy.from_json({"ip_allow": ["::/0"]})
    assert policy.allows_ip(ip("2001:db8::1"))
    assert not policy.allows_ip(ip("8.8.8.8"))


def test_parse_network_accepts_host_bits_and_bare_addresses() -> None:
    assert parse_network("10.1.2.3/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_network(" 192.0.2.1 ") == ipaddress.ip_network("192.0.2.1/32")
    assert parse_network("2001:db8::1") == ipaddress.ip_network("2001:db8::1/128")
