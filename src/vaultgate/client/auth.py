"""``TokenAuth``: an ``httpx.Auth`` that puts the current ``vgt_`` token on every request.

Sync and async flows; the token comes from a :class:`~vaultgate.client.token_source.TokenSource`,
so it is refreshed before it expires. A 401 answer makes the source drop that token, so the next
request carries a new one (or raises the clear error when the key itself was revoked).
The official ``openai`` SDK 3.x is built on ``httpx2``, a fork with an ``Auth`` class of its own:
:func:`auth_for` gives the same flows as a subclass of whichever library's ``Auth`` is wanted.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from types import ModuleType
from typing import Any

import httpx

from vaultgate.client.token_source import TokenSource


class _Flows:
    """The auth flows, written against what httpx and httpx2 share (request headers, response status)."""

    def __init__(self, source: TokenSource) -> None:
        self.source = source

    def sync_auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        """Sign with the current token; forget it when the gateway refused it."""
        token = self.source.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.source.refused(token)

    async def async_auth_flow(self, request: Any) -> AsyncGenerator[Any, Any]:
        """:meth:`sync_auth_flow` for async clients (a refresh never blocks the event loop)."""
        token = await self.source.atoken()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            self.source.refused(token)


class TokenAuth(_Flows, httpx.Auth):
    """``httpx.Client(auth=TokenAuth(source))``: every request carries a fresh short-lived token."""


def auth_for(library: ModuleType, source: TokenSource) -> Any:
    """The auth of ``library`` (``httpx``, or ``httpx2`` which the openai SDK 3.x uses) for ``source``."""
    if library is httpx:
        return TokenAuth(source)
    flows = type("TokenAuth", (_Flows, library.Auth), {"__doc__": TokenAuth.__doc__})
    return flows(source)
