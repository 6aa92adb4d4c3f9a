"""The provider adapter interface: turn a vetted request into an upstream response.

UpstreamError
├── UpstreamUnavailable   no connection could be made (502)
├── UpstreamTimeout       the upstream did not answer in time (504)
├── UpstreamRefusedCredential  the upstream refused vaultgate's credential (502)
└── RealtimeUnsupported   the provider kind serves no realtime sessions (400)
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


class UpstreamRefusedCredential(UpstreamError):
    """The upstream answered 401/403 to vaultgate's credential (an admin must rotate it)."""

    status = 502
    code = "upstream_auth_failed"


class RealtimeUnsupported(UpstreamError):
    """This provider kind has no realtime (WebSocket) endpoint."""

    status = 400
    code = "realtime_not_supported"


@dataclass(frozen=True, slots=True)
class SocketMessage:
    """One WebSocket message: text (``str``) or binary (``bytes``)."""

    data: str | bytes


class UpstreamSocket(abc.ABC):
    """An open WebSocket to the upstream (realtime sessions)."""

    @abc.abstractmethod
    async def send(self, data: str | bytes) -> None:
        """Send one text or binary message."""

    @abc.abstractmethod
    def messages(self) -> AsyncIterator[SocketMessage]:
        """The upstream's messages until it closes; UpstreamError when the connection breaks."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection (idempotent)."""


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


class ProviderAdapter(abc.ABC):
    """One provider kind: how to address it and authenticate to it."""

    @abc.abstractmethod
    async def send(self, provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
        """Send ``request`` to ``provider``; UpstreamError when it cannot be reached."""

    async def connect_realtime(self, provider: ProviderConfig, model: str, query: bytes) -> UpstreamSocket:
        """Open a realtime session for ``model`` (``query``: the other forwarded query parameters)."""
        raise RealtimeUnsupported(
            f"Provider '{provider.name}' ({provider.kind.value}) does not serve realtime sessions."
        )
