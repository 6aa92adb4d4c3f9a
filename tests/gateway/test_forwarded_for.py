"""X-Forwarded-For is believed only from configured proxies, read right to left."""

from __future__ import annotations

import ipaddress

from vaultgate.gateway.read import client_ip

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_untrusted_peer_cannot_claim_another_address() -> None:
    assert client_ip(ip("198.51.100.7"), b"203.0.113.1", PROXIES) == ip("198.51.100.7")


def test_trusted_proxy_chain_yields_the_nearest_untrusted_hop() -> None:
    assert client_ip(ip("10.0.0.2"), b"203.0.113.1, 198.51.100.9, 10.0.0.5", PROXIES) == ip("198.51.100.9")
    assert client_ip(ip("fd00::1"), b"2001:db8::7", PROXIES) == ip("2001:db8::7")


def test_no_proxies_configured_means_the_peer() -> None:
    assert client_ip(ip("10.0.0.2"), b"203.0.113.1", ()) == ip("10.0.0.2")


def test_garbage_hop_trusts_nothing() -> None:
    assert client_ip(ip("10.0.0.2"), b"203.0.113.1, not-an-ip", PROXIES) is None
