"""Usage records carry the team and keyed pseudonyms of the client's network and user agent: filled by
a real gateway for requests of the official SDK, different across user agents, never the address or
the string itself (docs/USAGE.md, "Client fingerprints")."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import openai
import pytest
from tests.conftest import Stack

from vaultgate.gateway import fingerprints
from vaultgate.keys.hashing import TokenHasher
from vaultgate.services import teams
from vaultgate.services.context import LOCAL_OPERATOR
from vaultgate.usage import spool

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
AGENTS = ("Acme-Billing/2.1 (build 8812)", "curl/8.5.0")


def test_the_gateway_fills_team_and_pseudonyms(stack: Stack) -> None:
    red = teams.create(stack.cp, LOCAL_OPERATOR, "red")
    stack.member("alice", team="red")
    key = stack.key("alice")
    for agent in AGENTS:
        client = openai.OpenAI(
            base_url=stack.base_url, api_key=key, max_retries=0, default_headers={"User-Agent": agent}
        )
        client.chat.completions.create(**CHAT)
    rows = stack.usage(2)
    assert len(rows) == 2
    assert {row.team_id for row in rows} == {red.id}
    client_hashes = {row.client_hash for row in rows}
    agent_hashes = [row.agent_hash for row in rows]
    # One network (loopback), two user agents.
    assert client_hashes == {stack.cp.hasher.pseudonym("usage-client", "127.0.0.0/24", 32)}
    assert len(set(agent_hashes)) == 2 and all(h is not None and len(h) == 32 for h in agent_hashes)
    assert agent_hashes == [stack.cp.hasher.pseudonym("usage-agent", agent, 32) for agent in AGENTS]
    for row in rows:
        stored = f"{row.client_hash} {row.agent_hash}"
        assert "127.0" not in stored and "Acme" not in stored and "curl" not in stored
        int(row.client_hash or "", 16), int(row.agent_hash or "", 16)  # hex digits only


HASHER = TokenHasher(b"k" * 32)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.250", "203.0.113.0/24"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),
        ("2001:db8:abcd:12:1::5", "2001:db8:abcd::/48"),
        ("2001:db8:abcd:ffff::1", "2001:db8:abcd::/48"),
    ],
)
def test_the_network_is_the_ipv4_24_or_the_ipv6_48(address: str, network: str) -> None:
    ip = ipaddress.ip_address(address)
    assert fingerprints.client_network(ip) == network
    assert fingerprints.client_hash(HASHER, ip) == HASHER.pseudonym("usage-client", network, 32)


def test_other_networks_and_other_keys_give_other_pseudonyms() -> None:
    a, b = ipaddress.ip_address("203.0.113.7"), ipaddress.ip_address("203.0.114.7")
    assert fingerprints.client_hash(HASHER, a) != fingerprints.client_hash(HASHER, b)
    other = TokenHasher(b"o" * 32)
    assert fingerprints.client_hash(HASHER, a) != fingerprints.client_hash(other, a)
    assert fingerprints.agent_hash(HASHER, b"x") != fingerprints.agent_hash(other, b"x")


def test_no_address_and_no_user_agent_give_none() -> None:
    assert fingerprints.client_hash(HASHER, None) is None
    assert fingerprints.agent_hash(HASHER, None) is None
    assert fingerprints.agent_hash(HASHER, b"") is None


def test_a_long_user_agent_is_hashed_whole() -> None:
    long_a, long_b = b"A" * 5000, b"A" * 4999 + b"B"
    assert fingerprints.agent_hash(HASHER, long_a) == HASHER.pseudonym("usage-agent", "A" * 5000, 32)
    assert fingerprints.agent_hash(HASHER, long_a) != fingerprints.agent_hash(HASHER, long_b)


def test_a_spooled_record_from_before_these_fields_still_replays() -> None:
    """A spool file written by the previous version (no team or pseudonyms) outlives the upgrade."""
    line = (
        b'{"at":"2026-03-01T00:00:00+00:00","request_id":"req_1","member_id":"mem_1","key_id":"key_1",'
        b'"provider":"p","endpoint":"chat/completions","model":"gpt-4o-mini","status":200,"error_code":null,'
        b'"stream":false,"prompt_tokens":1,"completion_tokens":2,"latency_ms":1.5,"cost_usd":null}'
    )
    decoded = spool.decode(line)
    assert decoded.at == datetime(2026, 3, 1, tzinfo=UTC) and decoded.completion_tokens == 2
    assert (decoded.team_id, decoded.client_hash, decoded.agent_hash) == (None, None, None)
