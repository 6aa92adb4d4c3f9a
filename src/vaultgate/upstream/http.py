"""The pooled HTTP client to upstreams (aiohttp), with TLS verification always on.

Only connection failures are retried (refused, DNS, a pooled connection the upstream
had already closed), as the official SDKs do; a request that got any HTTP answer is
never sent twice.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp

from vaultgate.upstream.interface import UpstreamResponse, UpstreamTimeout, UpstreamUnavailable

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


class UpstreamClient:
    """One connection pool for every upstream; created inside the running event loop."""

    def __init__(self, *, timeout: float = 600.0, connect_timeout: float = 10.0, limit: int = 1000) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=timeout)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the pool."""
        connector = aiohttp.TCPConnector(
            limit=self._limit, ttl_dns_cache=300, ssl=ssl.create_default_context(), keepalive_timeout=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=True, skip_auto_headers=("User-Agent",)
        )

    async def stop(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> HTTPUpstreamResponse:
        """Send and return once the status and headers arrived; retries only connect failures."""
        assert self._session is not None, "UpstreamClient.start() was not awaited"
        attempt = 0
        while True:
            try:
                response = await self._session.request(method, url, headers=headers, data=body or None)
                return HTTPUpstreamResponse(response)
            except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
                if isinstance(exc, aiohttp.ClientConnectorCertificateError) or attempt >= CONNECT_RETRIES:
                    raise UpstreamUnavailable("The upstream could not be reached.") from exc
            except TimeoutError as exc:
                raise UpstreamTimeout("The upstream did not answer in time.") from exc
            except aiohttp.ClientError as exc:
                raise UpstreamUnavailable("The upstream could not be reached.") from exc
            attempt += 1
            await asyncio.sleep(_BACKOFF * attempt)
