"""Which network addresses an upstream may live at: the rules shared by URL checks and the resolver guard.

An org admin registers upstreams by URL, and the gateway then sends requests carrying the
provider key there. A URL pointing at a cloud metadata service or a link-local address
turns that into a server-side request forgery: instance credentials come back to whoever
registered it. So such hosts are refused when a provider is added (``upstream.config``) and
again when a name is resolved at connect time (``upstream.http``), which also stops a name
that resolves to one of them (DNS rebinding).

- link-local (169.254.0.0/16, fe80::/10) and cloud metadata endpoints: refused unless
  ``VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS=true``;
- unspecified (0.0.0.0, ::) and multicast addresses: always refused (no upstream lives there).
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names the clouds give their metadata services (they resolve only inside the cloud).
METADATA_HOSTNAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
# Metadata endpoints outside the link-local ranges too: AWS IPv6, Alibaba, Azure's wire server.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)


def _plain(address: IPAddress) -> IPAddress:
    # ::ffff:169.254.169.254 reaches the IPv4 address: judge what the kernel connects to.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def host_address(host: str) -> IPAddress | None:
    """The address ``host`` spells, also in the legacy numeric forms (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``)."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return _plain(ipaddress.ip_address(text))
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefxABCDEFX." for c in text) and text[0].isdigit():
        try:  # inet_aton reads the forms getaddrinfo would connect to
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def address_refusal(address: IPAddress, *, allow_link_local: bool) -> str | None:
    """Why an upstream must not be at ``address``, or None when it may."""
    address = _plain(address)
    if address.is_unspecified or address.is_multicast:
        return f"{address} is an unspecified or multicast address"
    if allow_link_local:
        return None
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata endpoint"
    if address.is_link_local:
        return f"{address} is a link-local address"
    return None


def host_refusal(host: str, *, allow_link_local: bool) -> str | None:
    """Why an upstream must not be at the URL host ``host`` (a name or an address), or None."""
    address = host_address(host)
    if address is not None:
        return address_refusal(address, allow_link_local=allow_link_local)
    name = host.lower().rstrip(".")
    if not allow_link_local and name in METADATA_HOSTNAMES:
        return f"{name} is a cloud metadata endpoint"
    return None


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is localhost or a loopback address."""
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain"):
        return True
    address = host_address(host)
    return address is not None and address.is_loopback
