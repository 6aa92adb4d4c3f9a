"""Provider configuration as the data plane holds it (the secret already opened by the vault)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from vaultgate.upstream.addresses import host_refusal, is_loopback_host


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
    # Residency labels (docs/PROVIDERS.md): the region, its geography ("eu", "us"...) and the
    # deployment type ("global", "datazone", "regional"); None when the operator gave none.
    region: str | None = None
    geography: str | None = None
    deployment_type: str | None = None
    # Non-secret adapter settings (Azure: surface, Entra ID tenant and client id, token URL).
    settings: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class Deployment:
    """One place a request can be served: a provider and the model name it is asked for there.

    ``model`` is what the upstream is sent (for Azure, the deployment name); None sends the
    client's model unchanged. Routing (gateway/routing.py) returns deployments in the order to
    try them; the forward stage fails over along that list.
    """

    provider: ProviderConfig
    model: str | None = None
    weight: int = 1
    # Overrides the provider's deployment type for this deployment (None: the provider's).
    deployment_type: str | None = None

    @property
    def key(self) -> str:
        """A stable name for this deployment (circuit breakers, logs): ``provider/model``."""
        return f"{self.provider.name}/{self.model or '*'}"


class UnsafeURLError(ValueError):
    """The base URL would send a provider key over an unencrypted connection or to a forbidden address."""


def check_base_url(
    url: str,
    *,
    kind: ProviderKind = ProviderKind.COMPATIBLE,
    allow_insecure_http: bool = False,
    allow_link_local: bool = False,
) -> str:
    """The normalised URL, or UnsafeURLError: https always; http only to loopback, explicitly; no forbidden host.

    The one check for every URL vaultgate sends a secret to (provider base URLs, the
    webhook, the scanner's admin and verify URLs). Messages name fields, not CLI flags.
    """
    if kind is ProviderKind.ECHO:
        return url or DEFAULT_BASE_URLS[ProviderKind.ECHO]
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # an unbalanced [ in the host
        raise UnsafeURLError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeURLError(f"must be an absolute https:// URL, got {url!r}")
    if parts.username or parts.password:
        raise UnsafeURLError("the URL must not carry credentials; pass the key in 'api_key'")
    if parts.scheme == "http":
        if not allow_insecure_http:
            raise UnsafeURLError(
                "plain http:// is refused (the provider key would travel unencrypted); "
                "use https://, or 'allow_insecure_http' for a loopback address"
            )
        if not is_loopback_host(host):
            raise UnsafeURLError(f"plain http:// is only for loopback addresses, not {host!r}")
    refusal = host_refusal(host, allow_link_local=allow_link_local)
    if refusal is not None:
        if host_refusal(host, allow_link_local=True) is None:  # name the switch only where it would help
            refusal += " (VAULTGATE_ALLOW_LINK_LOCAL_UPSTREAMS=true allows it)"
        raise UnsafeURLError(f"host refused: {refusal}")
    return url.rstrip("/")
