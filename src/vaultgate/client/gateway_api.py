"""The two calls a member's machine makes to the gateway: whoami, and exchanging the key for a ``vgt_`` token.

Every failure becomes a :mod:`vaultgate.client.errors` exception with a message that says what to
do; the key is sent only in the ``Authorization`` header, and never appears in a message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from vaultgate.client.errors import ExchangeLimited, GatewayRefused, GatewayUnreachable, KeyRefused
from vaultgate.client.gateway_url import api_base

WHOAMI_PATH = "/vaultgate/whoami"
TOKENS_PATH = "/vaultgate/tokens"
DEFAULT_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class ShortLivedToken:
    """A ``vgt_`` token, when it ends (unix time, as the gateway said) and its lifetime when received (seconds)."""

    token: str = field(repr=False)
    expires_at: int
    lifetime: float


def token_from(document: Any, requested: float | None = None, now: float | None = None) -> ShortLivedToken:
    """The token of a ``vaultgate.token`` answer; its lifetime never above what was ``requested``."""
    if not isinstance(document, dict) or not isinstance(document.get("token"), str):
        raise GatewayRefused("the gateway's answer holds no token: is this a vaultgate gateway?", 200)
    expires_at = int(document.get("expires_at") or 0)
    lifetime = expires_at - (time.time() if now is None else now)
    if requested is not None:
        # A clock ahead of the gateway's must not make a fresh token look expired (nor a slow one look longer).
        lifetime = min(requested, lifetime) if lifetime > 0 else requested
    return ShortLivedToken(document["token"], expires_at, max(lifetime, 0.0))


def raise_for(response: httpx.Response, where: str) -> None:
    """Nothing for a 2xx answer; otherwise the client error that says what happened and what to do."""
    if response.is_success:
        return
    message, code = _error_of(response)
    if response.status_code == 401:  # the gateway says no more than that, by design (no oracle)
        raise KeyRefused()
    if response.status_code == 429:
        retry_after = _retry_after(response)
        raise ExchangeLimited(
            f"too many token exchanges for this key: retry in {retry_after:g} s, or keep using a token you have "
            f"({message or 'rate limited'})",
            retry_after,
        )
    detail = message or f"HTTP {response.status_code} without a vaultgate answer: is {where} a vaultgate gateway?"
    raise GatewayRefused(f"{where} refused: {detail}", response.status_code, code)


def _error_of(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None, None
    if not isinstance(error, dict):
        return None, None
    message, code = error.get("message"), error.get("code")
    return (str(message)[:400] if message else None), (str(code) if code else None)


def _retry_after(response: httpx.Response) -> float:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(float(response.headers[name]) * scale, 0.0)
        except (KeyError, ValueError):
            continue
    return 60.0


class GatewayClient:
    """whoami and token exchange against one gateway (a normalised URL: :mod:`vaultgate.client.gateway_url`)."""

    def __init__(self, gateway: str, *, timeout: float = DEFAULT_TIMEOUT, verify: bool | str = True) -> None:
        self.gateway = gateway
        self._timeout = timeout
        self._verify = verify

    def whoami(self, key: str) -> dict[str, Any]:
        """The identity document of ``key`` (member, team, key display form, scopes, models, expiry)."""
        response = self._send("GET", WHOAMI_PATH, key)
        document = response.json() if response.content else None
        if not isinstance(document, dict) or document.get("object") != "vaultgate.identity":
            raise GatewayRefused(f"{self.gateway} answered whoami without an identity: is it a vaultgate gateway?", 200)
        return document

    def exchange(
        self, key: str, ttl: int, models: Sequence[str] = (), scopes: Mapping[str, str] | None = None
    ) -> ShortLivedToken:
        """A ``vgt_`` token bought with ``key`` for ``ttl`` seconds, narrowed to ``models`` and ``scopes``."""
        body: dict[str, Any] = {"expires_in": ttl}
        if models:
            body["models"] = list(models)
        if scopes:
            body["scopes"] = dict(scopes)
        sent = time.time()
        response = self._send("POST", TOKENS_PATH, key, body)
        try:
            document = response.json()
        except ValueError:
            document = None
        return token_from(document, requested=ttl, now=sent)

    def _send(self, method: str, path: str, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
        url = api_base(self.gateway) + path
        try:
            response = httpx.request(
                method,
                url,
                json=body,
                headers={"authorization": f"Bearer {key}"},
                timeout=self._timeout,
                verify=self._verify,
                follow_redirects=False,  # a redirect would take the key along
            )
        except httpx.TransportError as exc:
            raise GatewayUnreachable(
                f"cannot reach the vaultgate gateway at {self.gateway} ({type(exc).__name__}): "
                "check the URL, your network and that the gateway is running"
            ) from None
        raise_for(response, f"the gateway at {self.gateway}")
        return response
