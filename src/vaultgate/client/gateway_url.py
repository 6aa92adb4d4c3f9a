"""The gateway's URL as the client keeps it: normalised, and never plain http:// across a network."""

from __future__ import annotations

from urllib.parse import urlsplit

from vaultgate.client.errors import UsageProblem
from vaultgate.upstream.addresses import is_loopback_host

API_SUFFIX = "/v1"


def normalise(url: str, *, allow_insecure_http: bool = False) -> str:
    """``scheme://host[:port][/path]`` without a trailing ``/`` or ``/v1``; UsageProblem when unsafe or unusable.

    The key would travel in clear text over plain http://, so (as ``provider add`` rules for
    provider keys) http:// is refused unless ``allow_insecure_http``, and even then only to loopback.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError as exc:  # an unbalanced [ in the host
        raise UsageProblem(f"not a valid gateway URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise UsageProblem(f"the gateway URL must be an absolute https:// URL, got {text[:80]!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UsageProblem("the gateway URL must not carry credentials, a query or a fragment")
    if parts.scheme == "http":
        if not allow_insecure_http:
            raise UsageProblem(
                "plain http:// is refused (your key would travel unencrypted): use https://, "
                "or --allow-insecure-http for a loopback address"
            )
        if not is_loopback_host(host):
            raise UsageProblem(f"plain http:// is only for loopback addresses, not {host!r}: use https://")
    path = parts.path.rstrip("/")
    if path.endswith(API_SUFFIX):
        path = path[: -len(API_SUFFIX)]
    return f"{parts.scheme}://{parts.netloc.lower()}{path}"


def api_base(gateway: str) -> str:
    """The OpenAI-compatible base URL of a normalised gateway URL (``OPENAI_BASE_URL``)."""
    return gateway + API_SUFFIX
