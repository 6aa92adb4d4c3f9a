"""The pooled HTTP client to upstreams (aiohttp), with TLS verification always on.

Only connection failures are retried (refused, DNS, a pooled connection the upstream
had already closed), as the official SDKs do; a request that got any HTTP answer is
never sent twice.
"""

from __future__ import annotations

import asyncio
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
    RealtimeConnection,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnavailable,
)

log = logging.getLogger("vaultgate.upstream")

CONNECT_RETRIES = 2
_BACKOFF = 0.05


class HTTPUpstreamResponse(UpstreamResponse):
    """An aiohttp response exposed through the adapter interface."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
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
        try:
            return await self._response.read()
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("The upstream connection broke mid-response.") from exc
        finally:
            self._response.release()

    async def close(self) -> None:
        self._response.release()


class WebSocketSession(RealtimeConnection):
    """An aiohttp WebSocket to the upstream, through the same guarded pool as every request."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws

    async def send(self, message: str | bytes) -> None:
        try:
            if isinstance(message, str):
                await self._ws.send_str(message)
            else:
                await self._ws.send_bytes(message)
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise UpstreamUnavailable("The upstream WebSocket broke.") from exc

    async def messages(self) -> AsyncIterator[str | bytes]:
        while True:
            msg = await self._ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                yield str(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                yield bytes(msg.data)
            elif msg.type is aiohttp.WSMsgType.ERROR:
                raise UpstreamUnavailable("The upstream WebSocket broke.")
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
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
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=timeout)
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
            keepalive_timeout=30,
            resolver=resolver,
            socket_factory=guarded_socket_factory(self._allow_link_local),
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=True, skip_auto_headers=("User-Agent",)
        )

    async def stop(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()

    async def websocket(self, url: str, headers: list[tuple[str, str]]) -> WebSocketSession:
        """A WebSocket to ``url`` (``ws://``/``wss://``) through the guarded pool; never retried, never redirected."""
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        try:
            ws = await self._session.ws_connect(url, headers=headers, autoping=True)
        except aiohttp.WSServerHandshakeError as exc:
            error = UpstreamError(f"The upstream refused the WebSocket ({exc.status}).")
            error.status = 401 if exc.status in (401, 403) else 502
            raise error from exc
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream did not answer in time.") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("The upstream could not be reached.") from exc
        return WebSocketSession(ws)

    async def request(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> HTTPUpstreamResponse:
        """Send and return once the status and headers arrived; retries only connect failures."""
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        attempt = 0
        while True:
            try:
                response = await self._session.request(method, url, headers=headers, data=body or None)
                return HTTPUpstreamResponse(response)
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
                refused = isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ForbiddenAddress)
                if refused or isinstance(exc, aiohttp.ClientConnectorCertificateError) or attempt >= CONNECT_RETRIES:
                    raise UpstreamUnavailable("The upstream could not be reached.") from exc
            except TimeoutError as exc:
                raise UpstreamTimeout("The upstream did not answer in time.") from exc
            except aiohttp.ClientError as exc:
                raise UpstreamUnavailable("The upstream could not be reached.") from exc
            attempt += 1
            await asyncio.sleep(_BACKOFF * attempt)
