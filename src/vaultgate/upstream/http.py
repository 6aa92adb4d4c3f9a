"""The pooled HTTP client to upstreams (aiohttp), with TLS verification always on.

It sends each request once and says precisely how it failed, so that the failover loop
(gateway/failover.py) can tell a request that never left (:class:`UpstreamUnreached`: refused,
DNS, connect timeout, TLS handshake) from one the upstream may have received (a connection
closed or reset after sending: :class:`UpstreamUnavailable`), which is never sent again as a
POST. Redirects are never followed (the credential would go along to another host), and a
whole answer is read only up to ``max_response_bytes``.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator

import aiohappyeyeballs
import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from vaultgate.upstream.addresses import address_refusal
from vaultgate.upstream.interface import (
    SocketMessage,
    UpstreamInvalidResponse,
    UpstreamRefusedCredential,
    UpstreamResponse,
    UpstreamResponseTooLarge,
    UpstreamSocket,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreached,
)

log = logging.getLogger("vaultgate.upstream")

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# A pooled connection idle this long is not used again. It must stay below the upstream's own idle
# timeout: a server closing an idle connection just as a request is sent on it makes that request a
# "closed before answering" failure (a 502 for a POST, which is never resent). uvicorn (vLLM and most
# OpenAI-compatible servers), Node and Apache close after 5 s; a burst 5 s after the last one met
# hundreds of such closes (tests/limits/test_burst.py, tests/upstream/test_keepalive.py).
KEEPALIVE_SECONDS = 4.0
# Every upstream request names vaultgate, never the member's client (its User-Agent is not forwarded) nor
# aiohttp's default: one fixed header, which also keeps aiohttp on its fast path (no per-request skip list).
USER_AGENT = ("User-Agent", "vaultgate")


class HTTPUpstreamResponse(UpstreamResponse):
    """An aiohttp response exposed through the adapter interface."""

    def __init__(self, response: aiohttp.ClientResponse, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> None:
        self._response = response
        self._max_bytes = max_bytes
        self.status = response.status
        self.headers = [(k.lower(), v) for k, v in response.headers.items()]

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream stopped sending in time.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("The upstream connection broke mid-response.") from exc
        finally:
            self._response.release()

    async def read(self) -> bytes:
        """The whole body, at most ``max_bytes`` of it: an endless or huge answer is cut off (and its
        connection closed) rather than held in memory."""
        declared = self._response.content_length
        if declared is not None and declared > self._max_bytes:
            self._response.close()
            raise UpstreamResponseTooLarge(_too_large(self._max_bytes))
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in self._response.content.iter_any():
                size += len(chunk)
                if size > self._max_bytes:
                    self._response.close()
                    raise UpstreamResponseTooLarge(_too_large(self._max_bytes))
                parts.append(chunk)
            return b"".join(parts)
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("The upstream connection broke mid-response.") from exc
        finally:
            self._response.release()

    async def close(self) -> None:
        self._response.release()


def _too_large(limit: int) -> str:
    return f"The upstream's answer is longer than the gateway's limit of {limit} bytes."


class HTTPUpstreamSocket(UpstreamSocket):
    """An aiohttp client WebSocket exposed through the adapter interface."""

    def __init__(self, socket_: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = socket_

    async def send(self, data: str | bytes) -> None:
        try:
            if isinstance(data, str):
                await self._ws.send_str(data)
            else:
                await self._ws.send_bytes(data)
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise UpstreamUnavailable("The upstream session connection broke.") from exc

    async def messages(self) -> AsyncIterator[SocketMessage]:
        while True:
            message = await self._ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                yield SocketMessage(message.data)
            elif message.type is aiohttp.WSMsgType.BINARY:
                yield SocketMessage(bytes(message.data))
            elif message.type is aiohttp.WSMsgType.ERROR:
                raise UpstreamUnavailable("The upstream session connection broke.")
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return

    async def close(self) -> None:
        await self._ws.close()


class ForbiddenAddress(OSError):
    """A connection to an address no upstream may have (link-local, cloud metadata, unspecified, multicast)."""


class GuardedResolver(AbstractResolver):
    """Resolves through ``inner`` and drops every forbidden address, so a name that resolves (or is
    rebound) to 169.254.169.254 is never connected to; a name left with no address fails to resolve."""

    def __init__(self, inner: AbstractResolver, *, allow_link_local: bool = False) -> None:
        self._inner = inner
        self._allow_link_local = allow_link_local

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host`` an upstream may have; ForbiddenAddress (an OSError) when none is left."""
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if self._allowed(r["host"])]
        if not allowed:
            log.warning("refused to connect to %s: it resolves only to forbidden addresses", host)
            raise ForbiddenAddress(f"{host} resolves only to addresses no upstream may have")
        return allowed

    def _allowed(self, address: str) -> bool:
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False  # a resolver that returns a non-address is not trusted
        return address_refusal(parsed, allow_link_local=self._allow_link_local) is None

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._inner.close()


def guarded_socket_factory(allow_link_local: bool) -> aiohappyeyeballs.SocketFactoryType:
    """A socket factory that refuses forbidden addresses: the last check, also for URLs with a literal IP
    (aiohttp does not ask the resolver about those)."""

    def factory(addr_info: aiohappyeyeballs.AddrInfoType) -> socket.socket:
        family, type_, proto, _canonname, sockaddr = addr_info
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        refusal = address_refusal(address, allow_link_local=allow_link_local)
        if refusal is not None:
            log.warning("refused to connect to an upstream at %s", refusal)
            raise ForbiddenAddress(refusal)
        return socket.socket(family=family, type=type_, proto=proto)

    return factory


class UpstreamClient:
    """One connection pool for every upstream; created inside the running event loop."""

    def __init__(
        self,
        *,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        limit: int = 1000,
        allow_link_local: bool = False,
        resolver: AbstractResolver | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=timeout)
        self._max_response_bytes = max_response_bytes
        self._limit = limit
        self._allow_link_local = allow_link_local
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the pool (its resolver and sockets refuse link-local and metadata addresses unless allowed)."""
        resolver = GuardedResolver(self._resolver or DefaultResolver(), allow_link_local=self._allow_link_local)
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            ttl_dns_cache=300,
            ssl=ssl.create_default_context(),
            keepalive_timeout=KEEPALIVE_SECONDS,
            resolver=resolver,
            socket_factory=guarded_socket_factory(self._allow_link_local),
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, auto_decompress=True)

    async def stop(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> HTTPUpstreamResponse:
        """Send once and return once the status and headers arrived (a redirect is returned, never followed).

        UpstreamUnreached when no connection was made; any other UpstreamError when the request may
        have reached the upstream."""
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        try:
            response = await self._session.request(
                method, url, headers=[*headers, USER_AGENT], data=body or None, allow_redirects=False
            )
        except aiohttp.ClientConnectorCertificateError as exc:
            raise UpstreamUnreached("The upstream's TLS certificate did not verify.", permanent=True) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake: nothing was sent
            permanent = isinstance(exc.os_error, ForbiddenAddress)
            raise UpstreamUnreached("The upstream could not be reached.", permanent=permanent) from exc
        except aiohttp.ConnectionTimeoutError as exc:  # before TimeoutError: it is one too
            raise UpstreamUnreached(
                "The upstream did not accept a connection in time.", status=504, code="upstream_timeout"
            ) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream did not answer in time.") from exc
        except aiohttp.ClientResponseError as exc:  # an oversized or malformed status line or headers
            raise UpstreamInvalidResponse("The upstream sent a response the gateway cannot read.") from exc
        except aiohttp.ClientError as exc:  # closed or reset after (part of) the request went out
            raise UpstreamUnavailable("The upstream closed the connection before answering.") from exc
        return HTTPUpstreamResponse(response, self._max_response_bytes)

    async def websocket(self, url: str, headers: list[tuple[str, str]], max_message_bytes: int) -> HTTPUpstreamSocket:
        """Open a WebSocket (``ws://`` or ``wss://``) through the same guarded pool; never follows a redirect.

        A 401/403 at the handshake is vaultgate's credential refused; any other failure is 502.
        """
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        try:
            socket_ = await self._session.ws_connect(
                url, headers=[*headers, USER_AGENT], max_msg_size=max_message_bytes, heartbeat=30.0, autoping=True
            )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise UpstreamRefusedCredential("The upstream refused vaultgate's credential.") from exc
            raise UpstreamUnavailable(f"The upstream refused the realtime session (HTTP {exc.status}).") from exc
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("The upstream could not be reached.") from exc
        return HTTPUpstreamSocket(socket_)
