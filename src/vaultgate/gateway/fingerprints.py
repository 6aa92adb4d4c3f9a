"""Keyed pseudonyms of where a request came from, for the usage record: never the address or the string.

``client_hash`` names the client's *network* (IPv4 /24, IPv6 /48: one office, one home line, one
cloud subnet) and ``agent_hash`` its ``User-Agent``, each as the first 32 hex digits of
HMAC-SHA256 under the token hashing key (:meth:`TokenHasher.pseudonym`, a purpose of its own), so
nobody without the vault can tell which network or agent a value stands for, and no value can be
linked to other pseudonyms. Many distinct values per key and day is how ``vaultgate doctor`` spots
a shared key. One HMAC per value, computed while the usage record is built (after the answer);
repeated (key, value) pairs come from a small bounded LRU.
"""

from __future__ import annotations

import functools
import ipaddress

from vaultgate.keys.hashing import TokenHasher

HASH_LENGTH = 32
# User agents longer than this are hashed every time instead of kept as LRU keys (bounded memory).
_CACHED_AGENT_CHARS = 256


def client_network(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The network a client address belongs to, as text: its IPv4 /24 or IPv6 /48 (IPv4-mapped: as IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        return f"{ipaddress.IPv4Address(int(ip) & 0xFFFFFF00)}/24"
    return f"{ipaddress.IPv6Address(int(ip) >> 80 << 80)}/48"


def client_hash(hasher: TokenHasher, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str | None:
    """The keyed pseudonym of the client's network (None: no address known)."""
    if ip is None:
        return None
    return _cached(hasher, "usage-client", client_network(ip))


def agent_hash(hasher: TokenHasher, user_agent: bytes | None) -> str | None:
    """The keyed pseudonym of a ``User-Agent`` header (None: absent or empty)."""
    if not user_agent:
        return None
    agent = user_agent.decode("latin-1")
    if len(agent) > _CACHED_AGENT_CHARS:
        return hasher.pseudonym("usage-agent", agent, HASH_LENGTH)
    return _cached(hasher, "usage-agent", agent)


@functools.lru_cache(maxsize=2048)
def _cached(hasher: TokenHasher, purpose: str, value: str) -> str:
    # Keyed by the hasher too (a frozen value whose hash covers its key): no pseudonym outlives its key.
    return hasher.pseudonym(purpose, value, HASH_LENGTH)
