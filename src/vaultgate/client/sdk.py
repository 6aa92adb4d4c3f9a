"""One line for notebooks and services: the official ``openai`` client, with a fresh ``vgt_`` token per request.

Where the long-lived member key comes from, in this order: the ``key`` argument; the credential
endpoint of a ``vaultgate exec --refresh`` (``VAULTGATE_TOKEN_URL`` in the environment: then this
process never sees the key at all); the keyring, where ``vaultgate login`` stored it for the gateway.
The gateway is the ``gateway`` argument, else ``VAULTGATE_GATEWAY_URL``, else the one of the last login.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vaultgate.client import profile
from vaultgate.client.auth import auth_for
from vaultgate.client.credential_endpoint import TOKEN_URL_VARIABLE, fetch_from
from vaultgate.client.errors import NotLoggedIn, UsageProblem
from vaultgate.client.exec_child import BASE_URL_VARIABLE
from vaultgate.client.gateway_api import GatewayClient
from vaultgate.client.gateway_url import api_base, normalise
from vaultgate.client.key_store import KeyStore
from vaultgate.client.token_source import TokenSource

GATEWAY_VARIABLE = "VAULTGATE_GATEWAY_URL"
DEFAULT_TTL = 900
# The SDK insists on an api_key; the real credential is set on each request by the auth flow.
_PLACEHOLDER = "vaultgate-short-lived-token-per-request"


def resolve_gateway(gateway: str | None = None, *, allow_insecure_http: bool = False) -> str:
    """The normalised gateway URL: the argument, else ``VAULTGATE_GATEWAY_URL``, else the last login's."""
    given = gateway or os.environ.get(GATEWAY_VARIABLE)
    if given:
        return normalise(given, allow_insecure_http=allow_insecure_http)
    stored = profile.load().default_gateway
    if stored is None:
        raise UsageProblem(
            f"no gateway known: pass --gateway URL (or set {GATEWAY_VARIABLE}), or run `vaultgate login --gateway URL`"
        )
    # It passed the URL rules when login stored it (an http:// loopback URL with --allow-insecure-http).
    return normalise(stored, allow_insecure_http=True)


def stored_key(gateway: str) -> str:
    """The member key ``vaultgate login`` stored for ``gateway``; NotLoggedIn when there is none."""
    storage = profile.load().storage.get(gateway, "keyring")
    key = KeyStore().load(gateway, storage)
    if not key:
        raise NotLoggedIn(f"no key is stored for {gateway}: run `vaultgate login --gateway {gateway}`")
    return key


@dataclass(frozen=True, slots=True)
class Connection:
    """Where requests go (``…/v1``) and the token source that signs them."""

    base_url: str
    source: TokenSource


def connect(
    *,
    gateway: str | None = None,
    key: str | None = None,
    ttl: int = DEFAULT_TTL,
    models: Sequence[str] = (),
    scopes: Mapping[str, str] | None = None,
    allow_insecure_http: bool = False,
) -> Connection:
    """The base URL and a token source, from the first key source that applies (see the module docstring)."""
    token_url = os.environ.get(TOKEN_URL_VARIABLE)
    if key is None and token_url and gateway is None:
        base = os.environ.get(BASE_URL_VARIABLE)
        if not base:
            raise UsageProblem(f"{TOKEN_URL_VARIABLE} is set without {BASE_URL_VARIABLE}: run under `vaultgate exec`")
        return Connection(base.rstrip("/"), TokenSource(lambda: fetch_from(token_url)))
    url = resolve_gateway(gateway, allow_insecure_http=allow_insecure_http)
    member_key = key if key is not None else stored_key(url)
    client = GatewayClient(url)
    return Connection(api_base(url), TokenSource(lambda: client.exchange(member_key, ttl, models, scopes)))


def _openai() -> Any:
    try:
        import openai
    except ImportError:
        raise ImportError("vaultgate.client.openai_client needs the official OpenAI SDK: pip install openai") from None
    return openai


def _library_of(client_class: type) -> Any:
    """The HTTP library a client class is built on (httpx, or httpx2 for the openai SDK 3.x)."""
    for cls in client_class.__mro__:
        top = cls.__module__.split(".")[0]
        if top in ("httpx", "httpx2"):
            return sys.modules[top]
    raise TypeError(f"{client_class.__name__} is not an httpx client")


def openai_client(connection: Connection | None = None, **options: Any) -> Any:
    """An ``openai.OpenAI`` whose every request carries a fresh short-lived token.

    ``options``: :func:`connect`'s (``gateway``, ``key``, ``ttl``, ``models``, ``scopes``,
    ``allow_insecure_http``), the rest go to ``openai.OpenAI`` (``max_retries``, ``timeout``...).
    """
    openai = _openai()
    connection, rest = _connected(connection, options)
    http = openai.DefaultHttpxClient(auth=auth_for(_library_of(openai.DefaultHttpxClient), connection.source))
    return openai.OpenAI(base_url=connection.base_url, api_key=_PLACEHOLDER, http_client=http, **rest)


def async_openai_client(connection: Connection | None = None, **options: Any) -> Any:
    """An ``openai.AsyncOpenAI`` whose every request carries a fresh short-lived token (see :func:`openai_client`)."""
    openai = _openai()
    connection, rest = _connected(connection, options)
    library = _library_of(openai.DefaultAsyncHttpxClient)
    http = openai.DefaultAsyncHttpxClient(auth=auth_for(library, connection.source))
    return openai.AsyncOpenAI(base_url=connection.base_url, api_key=_PLACEHOLDER, http_client=http, **rest)


_SOURCE_OPTIONS = ("gateway", "key", "ttl", "models", "scopes", "allow_insecure_http")


def _connected(connection: Connection | None, options: dict[str, Any]) -> tuple[Connection, dict[str, Any]]:
    mine = {k: v for k, v in options.items() if k in _SOURCE_OPTIONS}
    rest = {k: v for k, v in options.items() if k not in _SOURCE_OPTIONS}
    if connection is None:
        connection = connect(**mine)
    elif mine:
        raise TypeError(f"pass either a connection or {', '.join(sorted(mine))}, not both")
    connection.source.current()  # fail here, with the clear message, rather than inside the SDK's first call
    return connection, rest
