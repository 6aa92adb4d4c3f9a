"""Microsoft Entra ID access tokens for Azure OpenAI (OAuth 2.0 client credentials).

The client secret is the provider's vault-held credential (``ProviderConfig.api_key``); the
tenant, client id and token URL are non-secret ``settings``. A token is fetched through the same
pooled, address-guarded :class:`UpstreamClient` as every upstream call, cached per provider and
credential, and fetched again before it expires: once less than :data:`REFRESH_MARGIN` (5
minutes) or less than 10% of its lifetime remains. Concurrent requests wait for one fetch (single
flight). A refresh that fails while the cached token is still valid keeps using that token; a refusal
of the credentials is remembered for :data:`REFUSAL_HOLD` seconds, so a wrong secret is not sent
to Entra ID again with every request.

Access tokens are credentials too: :meth:`EntraTokens.live` names every token that may still be
in use, so the gateway cuts them out of relayed answers like the provider keys. Neither the
secret nor a token is ever logged or put into an error message.

UpstreamError
├── EntraTokenRefused       the token endpoint refused the client credentials (502 upstream_auth_failed)
└── EntraTokenUnavailable   the token endpoint could not be reached or answered garbage (502)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import orjson

from vaultgate.upstream.config import ProviderConfig
from vaultgate.upstream.http import UpstreamClient
from vaultgate.upstream.interface import UpstreamError

log = logging.getLogger("vaultgate.upstream")

SCOPE = "https://cognitiveservices.azure.com/.default"
DEFAULT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 - a URL
REFRESH_MARGIN = 300.0  # seconds: a token with less left than this (or than 10% of its life) is renewed
REFRESH_FRACTION = 0.1
# After the token endpoint refused the credentials, the same refusal is answered for this long without
# asking again: a wrong secret does not turn every request (and each SDK retry) into a call to Entra ID.
REFUSAL_HOLD = 30.0
# The longest a request waits for a token (Entra ID answers in well under a second); then 502.
TOKEN_TIMEOUT = 30.0
# What an Entra error code may look like to be logged ("invalid_client", "AADSTS7000215").
_SAFE_CODE = re.compile(r"[A-Za-z0-9_]{1,40}")


class EntraTokenRefused(UpstreamError):
    """The token endpoint refused the tenant, client id or secret: an admin must fix the provider."""

    status = 502
    code = "upstream_auth_failed"


class EntraTokenUnavailable(UpstreamError):
    """The token endpoint could not be reached, or its answer held no usable token."""

    status = 502
    code = "upstream_token_unavailable"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and when (on the injected monotonic clock) it stops being used."""

    value: str
    expires_at: float
    refresh_at: float


def secret_part(token: str) -> str:
    """What of an access token is scrubbed from answers: a JWT's signature, else the whole token.

    A JWT's header (``eyJ0eXAiOiJKV1Qi...``) and claims are shared by many tokens and appear in
    ordinary text about JWTs; without its signature a token is useless, so the signature is the
    secret (a run of 12 of its characters is enough to be cut, like a key's random part).
    """
    parts = token.split(".")
    return parts[2] if len(parts) == 3 and len(parts[2]) >= 16 else token


def token_url(provider: ProviderConfig) -> str:
    """The token endpoint: the configured ``token_url``, else Entra's for the tenant."""
    configured = provider.settings.get("token_url")
    if configured:
        return configured
    return DEFAULT_TOKEN_URL.format(tenant=quote(provider.settings.get("tenant_id", ""), safe=""))


def _cache_key(provider: ProviderConfig) -> tuple[str, ...]:
    """Per provider and credential: a rotated secret or another tenant never reuses a token."""
    secret = hashlib.sha256((provider.api_key or "").encode()).hexdigest()
    settings = provider.settings
    return (provider.name, token_url(provider), settings.get("client_id", ""), secret)


class EntraTokens:
    """The cache of Entra ID access tokens, one per provider and credential; one fetch at a time per key."""

    def __init__(
        self, client: UpstreamClient, clock: Callable[[], float] = time.monotonic, timeout: float = TOKEN_TIMEOUT
    ) -> None:
        self._client = client
        self._clock = clock
        self._timeout = timeout
        self._tokens: dict[tuple[str, ...], AccessToken] = {}
        self._retired: list[AccessToken] = []  # replaced tokens that requests in flight may still hold
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}
        self._live: frozenset[str] = frozenset()
        self._refused: dict[tuple[str, ...], tuple[float, str]] = {}  # until when, and the refusal's message

    def live(self) -> frozenset[str]:
        """The secret part of every token that may still be in use (current and replaced, not yet expired)."""
        now = self._clock()
        if any(t.expires_at <= now for t in self._retired):
            self._retired = [t for t in self._retired if t.expires_at > now]
            self._live = frozenset(secret_part(t.value) for t in (*self._tokens.values(), *self._retired))
        return self._live

    async def token(self, provider: ProviderConfig) -> str:
        """A valid access token for ``provider``; EntraTokenRefused or EntraTokenUnavailable when none."""
        key = _cache_key(provider)
        cached = self._tokens.get(key)
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # single flight: the others wait here and take what the first one fetched
            cached = self._tokens.get(key)
            now = self._clock()
            if cached is not None and now < cached.refresh_at:
                return cached.value
            refused = self._refused.get(key)
            if refused is not None and now < refused[0] and (cached is None or now >= cached.expires_at):
                raise EntraTokenRefused(refused[1])
            try:
                fresh = await self._fetch(provider)
            except UpstreamError as exc:
                if isinstance(exc, EntraTokenRefused):
                    self._refused[key] = (now + REFUSAL_HOLD, str(exc))
                if cached is not None and now < cached.expires_at:
                    log.warning("provider %r: Entra ID token refresh failed; the current token is used", provider.name)
                    return cached.value
                raise
            self._refused.pop(key, None)
            if cached is not None:
                self._retired.append(cached)
            self._tokens[key] = fresh
            self._live = frozenset(secret_part(t.value) for t in (*self._tokens.values(), *self._retired))
            return fresh.value

    async def _fetch(self, provider: ProviderConfig) -> AccessToken:
        settings = provider.settings
        form = urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": settings.get("client_id", ""),
                "client_secret": provider.api_key or "",
                "scope": SCOPE,
            }
        ).encode()
        headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
        started = self._clock()
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.request("POST", token_url(provider), headers, form)
                body = await response.read()
        except (UpstreamError, TimeoutError) as exc:
            log.warning("provider %r: the Entra ID token endpoint could not be reached", provider.name)
            raise EntraTokenUnavailable(
                f"The Microsoft Entra ID token endpoint for provider '{provider.name}' could not be reached."
            ) from exc
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None
        if response.status != 200:
            code = document.get("error") if isinstance(document, dict) else None
            shown = code if isinstance(code, str) and _SAFE_CODE.fullmatch(code) else "-"
            log.warning(
                "provider %r: the Entra ID token endpoint answered %d (%s)", provider.name, response.status, shown
            )
            if 400 <= response.status < 500:
                raise EntraTokenRefused(
                    f"Microsoft Entra ID refused vaultgate's client credentials for provider '{provider.name}' "
                    f"({shown}); an admin must fix its tenant, client id or secret."
                )
            raise EntraTokenUnavailable(
                f"The Microsoft Entra ID token endpoint for provider '{provider.name}' answered {response.status}."
            )
        value = document.get("access_token") if isinstance(document, dict) else None
        lifetime = document.get("expires_in") if isinstance(document, dict) else None
        if isinstance(lifetime, str) and lifetime.isdigit():  # some endpoints send it as a string
            lifetime = int(lifetime)
        if not isinstance(value, str) or not value or not isinstance(lifetime, int) or isinstance(lifetime, bool):
            raise EntraTokenUnavailable(
                f"The Microsoft Entra ID token endpoint for provider '{provider.name}' sent no usable token."
            )
        expires_at = started + lifetime
        margin = max(REFRESH_MARGIN, REFRESH_FRACTION * lifetime)
        return AccessToken(value, expires_at, expires_at - margin)
