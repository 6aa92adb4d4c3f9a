"""The provider adapter interface: turn a vetted request into an upstream response.

UpstreamError
├── UpstreamUnavailable        the connection failed or broke (502)
│   └── UpstreamUnreached      it was never established: nothing was sent, so sending again is safe
├── UpstreamTimeout            the upstream did not answer in time (504)
├── UpstreamInvalidResponse    an answer that is not HTTP, or not what the endpoint returns (502)
├── UpstreamResponseTooLarge   an answer past the size cap (502)
├── UpstreamRefusedCredential  the upstream refused vaultgate's credential (realtime handshake, 502)
└── RealtimeUnsupported        the provider kind serves no realtime sessions (400)

Only :class:`UpstreamUnreached` proves the upstream did not receive the request; every other
failure may have reached it, so a POST is never sent again after one (gateway/failover.py).
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

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class UpstreamUnavailable(UpstreamError):
    """No connection to the upstream (refused, reset, DNS, TLS)."""

    status = 502
    code = "upstream_unavailable"


class UpstreamUnreached(UpstreamUnavailable):
    """No connection was established (refused, DNS, connect timeout, TLS handshake): the request was not sent.

    ``permanent`` when trying again cannot help (a forbidden address, a certificate that does not
    verify): the failover loop then goes to the next deployment at once.
    """

    def __init__(
        self, message: str, *, permanent: bool = False, status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.permanent = permanent


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    status = 504
    code = "upstream_timeout"


class UpstreamInvalidResponse(UpstreamError):
    """The upstream's answer cannot be relayed: an unparseable or oversized head, garbage where JSON belongs."""

    status = 502
    code = "upstream_invalid_response"


class UpstreamResponseTooLarge(UpstreamError):
    """A whole answer longer than ``VAULTGATE_MAX_UPSTREAM_RESPONSE_BYTES`` (or one SSE event past its cap)."""

    status = 502
    code = "upstream_response_too_large"


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


class BufferedResponse(UpstreamResponse):
    """An answer whose body was already read (to look at it before deciding to relay or retry)."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.body:
            yield self.body

    async def read(self) -> bytes:
        return self.body

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (lower case), or None."""
        return next((v for k, v in self.headers if k == name), None)


class ProviderAdapter(abc.ABC):
    """One provider kind: how to address it and authenticate to it."""

    @abc.abstractmethod
    async def send(self, provider: ProviderConfig, request: ProxyRequest) -> UpstreamResponse:
        """Send ``request`` to ``provider``; UpstreamError when it cannot be reached."""

    def live_credentials(self) -> frozenset[str]:
        """Credentials this adapter minted and may be using (Entra ID access tokens): scrubbed from answers."""
        return frozenset()

    async def connect_realtime(self, provider: ProviderConfig, model: str, query: bytes) -> UpstreamSocket:
        """Open a realtime session for ``model`` (``query``: the other forwarded query parameters)."""
        raise RealtimeUnsupported(
            f"Provider '{provider.name}' ({provider.kind.value}) does not serve realtime sessions."
        )
