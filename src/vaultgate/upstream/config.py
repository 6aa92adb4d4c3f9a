"""Provider configuration as the data plane holds it (the secret already opened by the vault)."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit


class ProviderKind(enum.Enum):
    """The provider adapters vaultgate ships."""

    OPENAI = "openai"
    AZURE = "azure"
    COMPATIBLE = "compatible"
    ECHO = "echo"


DEFAULT_BASE_URLS = {
    ProviderKind.OPENAI: "https://api.openai.com/v1",
    ProviderKind.ECHO: "echo://local",
}


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One upstream, ready to use: where it is, how to address it, and its opened key."""

    name: str
    kind: ProviderKind
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    api_version: str | None = None
    deployments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    is_default: bool = False
    # Every secret of this provider that may be in use (active and draining credentials), so that
    # answers are scrubbed of all of them (gateway/scrub.py); api_key is the one new requests use.
    secrets: tuple[str, ...] = field(default=(), repr=False)


class UnsafeURLError(ValueError):
    """The base URL would send a provider key over an unencrypted or unusable connection."""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is localhost or a loopback address."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(kind: ProviderKind, url: str, allow_insecure_http: bool) -> str:
    """The normalised base URL, or UnsafeURLError: https always; http only to loopback, explicitly."""
    if kind is ProviderKind.ECHO:
        return url or DEFAULT_BASE_URLS[ProviderKind.ECHO]
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURLError(f"base URL must be an absolute https:// URL, got {url!r}")
    if parts.username or parts.password:
        raise UnsafeURLError("base URL must not carry credentials; pass the key with --api-key-env or --api-key-stdin")
    if parts.scheme == "http":
        if not allow_insecure_http:
            raise UnsafeURLError(
                "plain http:// is refused (the provider key would travel unencrypted); "
                "use https://, or --allow-insecure-http for a loopback address"
            )
        if not is_loopback_host(parts.hostname):
            raise UnsafeURLError(f"--allow-insecure-http is only for loopback addresses, not {parts.hostname!r}")
    return url.rstrip("/")
