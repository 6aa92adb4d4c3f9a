"""The OpenID Connect relying party of the console: discovery, the authorization request, the code exchange.

- **Discovery**: ``<issuer>/.well-known/openid-configuration`` is fetched once and cached with the
  issuer's JWKS for :data:`CACHE_FOR`; the document's ``issuer`` must be the configured issuer exactly,
  and every endpoint it names must be https (plain http only to a loopback address). A token signed by
  a key id the cached JWKS lacks makes one fresh fetch of the JWKS (the issuer rotated its keys).
- **Authorization request**: the authorization code flow with PKCE (S256), a ``state`` and a ``nonce``.
- **Code exchange**: at the token endpoint, with HTTP Basic client authentication when a client secret
  is sealed in the vault, else as a public client (PKCE only); the ID token it returns is verified by
  :mod:`vaultgate.identity.oidc_tokens` and turned into a :class:`~vaultgate.services.identity_signin.Person`.

Calls to the issuer follow no redirect, time out, and read at most :data:`MAX_RESPONSE_BYTES`. Nothing
here logs or returns the code, the verifier, the ID token or the client secret.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp
import orjson
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from vaultgate.identity.oidc_tokens import Expected, OidcError, UnknownKey, verify
from vaultgate.services.identity_signin import Person
from vaultgate.upstream.config import UnsafeURLError, check_base_url

CACHE_FOR = timedelta(hours=1)
MAX_RESPONSE_BYTES = 512 * 1024
TIMEOUT_SECONDS = 10.0
_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """This gateway as the issuer knows it: the issuer, our client id, the callback URL, the scopes."""

    issuer: str
    client_id: str
    redirect_url: str
    scopes: str = "openid email profile"
    groups_claim: str = "groups"
    allow_link_local: bool = False


@dataclass(slots=True)
class _Discovered:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    keys: KeySet
    fetched_at: float


def code_challenge(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _plain_code(value: object) -> str | None:
    """An OAuth error code fit to show (``invalid_grant``), or None for anything else."""
    if isinstance(value, str) and 0 < len(value) <= 40 and all(c.isalnum() or c == "_" for c in value):
        return value
    return None


class OidcClient:
    """Talks to one issuer for the console: discovery (cached), authorization URLs, code exchanges."""

    def __init__(
        self,
        party: RelyingParty,
        *,
        clock: Callable[[], datetime],
        timeout: float = TIMEOUT_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.party = party
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._monotonic = monotonic
        self._discovered: _Discovered | None = None

    # ---- HTTP to the issuer -----------------------------------------------------------------------------

    def _checked(self, url: object, what: str) -> str:
        if not isinstance(url, str):
            raise OidcError(f"the issuer's discovery document has no {what}", unreachable=True)
        try:
            return check_base_url(url, allow_insecure_http=True, allow_link_local=self.party.allow_link_local)
        except UnsafeURLError:
            raise OidcError(
                f"the issuer's {what} is not an https:// URL (plain http is for loopback only)", unreachable=True
            ) from None

    async def _json(self, method: str, url: str, what: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """One call to the issuer: its status and JSON object (OidcError(unreachable) for anything else)."""
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(method, url, allow_redirects=False, **kwargs) as response,
            ):
                if 300 <= response.status < 400:
                    raise OidcError(f"the issuer's {what} answered with a redirect (not followed)", unreachable=True)
                declared = response.content_length
                if declared is not None and declared > MAX_RESPONSE_BYTES:
                    raise OidcError(f"the issuer's {what} answer is too large", unreachable=True)
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise OidcError(f"the issuer's {what} answer is too large", unreachable=True)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = type(exc).__name__
            raise OidcError(f"the issuer's {what} could not be reached ({reason})", unreachable=True) from None
        try:
            document = orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise OidcError(f"the issuer's {what} did not answer with JSON (HTTP {status})", unreachable=True) from None
        if not isinstance(document, dict):
            raise OidcError(f"the issuer's {what} did not answer with a JSON object", unreachable=True)
        return status, document

    async def _keys(self, jwks_uri: str) -> KeySet:
        status, document = await self._json("GET", jwks_uri, "JWKS")
        if status != 200:
            raise OidcError(f"the issuer's JWKS answered HTTP {status}", unreachable=True)
        try:
            return KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise OidcError("the issuer's JWKS holds no usable key set", unreachable=True) from None

    async def _discover(self, *, fresh: bool = False) -> _Discovered:
        cached = self._discovered
        if cached is not None and not fresh and self._monotonic() - cached.fetched_at < CACHE_FOR.total_seconds():
            return cached
        url = self.party.issuer.rstrip("/") + "/.well-known/openid-configuration"
        status, document = await self._json("GET", self._checked(url, "discovery URL"), "discovery document")
        if status != 200:
            raise OidcError(f"the issuer's discovery document answered HTTP {status}", unreachable=True)
        if document.get("issuer") != self.party.issuer:
            raise OidcError(
                "the issuer's discovery document names another issuer than the configured one "
                "(VAULTGATE_OIDC_ISSUER must match it exactly)",
                unreachable=True,
            )
        endpoints = {name: self._checked(document.get(name), name) for name in _ENDPOINTS}
        keys = await self._keys(endpoints["jwks_uri"])
        found = _Discovered(**endpoints, keys=keys, fetched_at=self._monotonic())
        self._discovered = found
        return found

    # ---- the flow ---------------------------------------------------------------------------------------

    async def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        """Where to send the browser: the issuer's authorization endpoint with PKCE, state and nonce."""
        discovered = await self._discover()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.party.client_id,
                "redirect_uri": self.party.redirect_url,
                "scope": self.party.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in discovered.authorization_endpoint else "?"
        return f"{discovered.authorization_endpoint}{separator}{query}"

    async def _exchange(self, discovered: _Discovered, code: str, verifier: str, secret: str | None) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.party.redirect_url,
            "code_verifier": verifier,
        }
        headers = {"accept": "application/json"}
        if secret:  # client_secret_basic: both parts form-encoded first (RFC 6749, section 2.3.1)
            pair = f"{quote_plus(self.party.client_id)}:{quote_plus(secret)}".encode()
            headers["authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            form["client_id"] = self.party.client_id
        status, answer = await self._json(
            "POST", discovered.token_endpoint, "token endpoint", data=form, headers=headers
        )
        if status != 200:
            code_name = _plain_code(answer.get("error"))
            if 400 <= status < 500:
                raise OidcError(
                    f"the issuer refused the authorization code ({code_name or f'HTTP {status}'}): start again"
                )
            raise OidcError(f"the issuer's token endpoint answered HTTP {status}", unreachable=True)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise OidcError("the issuer's token endpoint returned no ID token (is 'openid' among the scopes?)")
        return id_token

    async def _verify(self, discovered: _Discovered, id_token: str, nonce: str) -> dict[str, Any]:
        expected = Expected(self.party.issuer, self.party.client_id, nonce, self._clock())
        try:
            return verify(id_token, discovered.keys, expected)
        except UnknownKey:
            discovered.keys = await self._keys(discovered.jwks_uri)  # the issuer rotated its keys: once
            return verify(id_token, discovered.keys, expected)

    async def sign_in(self, code: str, nonce: str, verifier: str, secret: str | None) -> Person:
        """Exchange ``code`` for an ID token, verify it against this sign-in's ``nonce``, and say who it names."""
        discovered = await self._discover()
        id_token = await self._exchange(discovered, code, verifier, secret)
        claims = await self._verify(discovered, id_token, nonce)
        return person(claims, self.party.groups_claim)


def _text(claims: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = claims.get(name)
    if isinstance(value, str) and value.strip() and len(value) <= limit:
        return value.strip()
    return None


def person(claims: Mapping[str, Any], groups_claim: str) -> Person:
    """Who verified claims name: issuer and subject, and what else the issuer says (email, name, groups)."""
    groups = claims.get(groups_claim)
    if isinstance(groups, str):
        groups = [groups]
    return Person(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email=_text(claims, "email", 320),
        email_verified=claims.get("email_verified") is True,
        name=_text(claims, "name", 200),
        username=_text(claims, "preferred_username", 200),
        groups=tuple(g for g in groups if isinstance(g, str))[:200] if isinstance(groups, list) else (),
    )
