"""The provider adapter interface: turn a vetted request into an upstream response.

UpstreamError
├── UpstreamUnavailable   no connection could be made (502)
└── UpstreamTimeout       the upstream did not answer in time (504)
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from vaultgate.upstream.config import ProviderConfig


class UpstreamError(Exception):
    """The upstream could not be used for this request; the message is safe to show."""

    status = 502
    code = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    """No connection to the upstream (refused, reset, DNS, TLS)."""

    status = 502
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    status = 504
    code = "upstream_timeout"


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """What an adapter sends, built by the gateway from an endpoint template, never from the client's path.

    ``endpoint`` names the template (``chat.completions``, ``models.retrieve``...); ``path`` is
    the path under ``/v1`` built from it, each parameter percent-encoded as exactly one segment;
    ``query`` holds only the parameters the template forwards (usually none). Adapters append
    them to their base URL as they are and never parse or rebuild them.
    """

    method: str
    endpoint: str
    path: str
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    model: str | None
    stream: bool


class UpstreamResponse(abc.ABC):
    """A response whose body is read as a whole or as a stream of chunks."""

    status: int
    headers: list[tuple[str, str]]

    @abc.abstractmethod
    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release the connection (idempotent)."""


class RealtimeUnsupported(UpstreamError):
    """The provider kind has no Realtime WebSocket vaultgate can proxy."""

    status = 400
    code = "realtime_not_supported"


class RealtimeConnection(abc.ABC):
    """A WebSocket session with the upstream: text and binary messages both ways."""

    @abc.abstractmethod
    async def send(self, message: str | bytes) -> None:
        """Send one message (text or binary) upstream."""

    @abc.abstractmethod
    def messages(self) -> AsyncIterator[str | bytes]:
        """The upstream's messages until it closes; UpstreamError when the connection breaks."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the session (idempotent)."""


class ProviderAdapter(abc.ABC):
    """One provider kind: how to address it and authenticate to it."""

    @abc.abstractmethod
    async def send(self, provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
        """Send ``request`` to ``provider``; UpstreamError when it cannot be reached."""

    async def realtime(self, provider: ProviderConfig, request: ProxyRequest) -> RealtimeConnection:
        """Open a Realtime WebSocket session (``request.path``/``query`` from the template); RealtimeUnsupported
        unless the adapter can."""
        raise RealtimeUnsupported(f"Realtime sessions are not available through provider '{provider.name}'.")
