"""A small TCP proxy on loopback that a test can cut and heal: a network partition between one
process and one server (PostgreSQL, Redis), without touching either.

    proxy = TcpProxy("127.0.0.1", 5432).start()   # clients connect to proxy.port instead
    proxy.cut("blackhole")    # a partition: open connections end, new ones are accepted and never answered
    proxy.cut("reset")        # a refused path: open connections end, new ones are reset at once
    proxy.heal()              # new connections are forwarded again
    proxy.stop()

On a cut every open connection is closed at once (an RST to the client, so the client sees a
broken connection rather than a clean end). In ``blackhole`` mode a new connection is accepted
(the TCP handshake completes, as it would with a middlebox) and whatever the client sends is read
and dropped; nothing ever comes back. A connection blackholed during a cut stays dead after
``heal()``: like a connection a firewall or NAT forgot during a partition, only the client's own
timeouts end it. That is the point: a client without connect or read timeouts hangs on it for ever.

asyncio in a background thread; ``cut()`` and ``heal()`` return once the change is in effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, Literal

Mode = Literal["forward", "blackhole", "reset"]
_CHUNK = 65536


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), not a FIN: the peer sees its connection broken."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``host:port`` until cut; counts what it saw."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.mode: Mode = "forward"
        self.accepted = 0  # every connection a client opened
        self.blackholed = 0  # connections accepted while blackholed (never answered)
        self.refused = 0  # connections reset at once while cut in reset mode
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # client sides of forwarded connections
        self._holes: set[asyncio.StreamWriter] = set()  # client sides of blackholed connections

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start(self) -> TcpProxy:
        """Listen on a free loopback port (``self.port``)."""
        self._thread.start()

        async def listen() -> None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._call(listen())
        return self

    def url(self, template: str) -> str:
        """``template`` with ``{port}`` replaced by the proxy's port (``"redis://127.0.0.1:{port}/0"``)."""
        return template.format(port=self.port)

    def cut(self, mode: Literal["blackhole", "reset"] = "blackhole") -> None:
        """End every open connection (RST); from now on new ones are blackholed or reset."""

        async def cut() -> None:
            self.mode = mode
            for writer in list(self._open):
                _reset(writer)
            self._open.clear()

        self._call(cut())

    def heal(self) -> None:
        """Forward new connections again (connections blackholed meanwhile stay dead)."""

        async def heal() -> None:
            self.mode = "forward"

        self._call(heal())

    def stop(self) -> None:
        """Close everything, the listening socket included, and the thread."""

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in [*self._open, *self._holes]:
                _reset(writer)
            handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)

        with contextlib.suppress(Exception):
            self._call(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "reset":
            self.refused += 1
            _reset(writer)
            return
        if self.mode == "blackhole":
            self.blackholed += 1
            await self._swallow(reader, writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        self._open.add(writer)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._open.discard(writer)
            _reset(up_writer)
            writer.transport.abort()

    async def _swallow(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read and drop until the client gives up; answer nothing."""
        self._holes.add(writer)
        try:
            while await reader.read(_CHUNK):
                pass
        except OSError:
            pass
        finally:
            self._holes.discard(writer)
            writer.transport.abort()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy until either side ends; then end both directions (a cut resets the client side)."""
        try:
            while data := await source.read(_CHUNK):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.transport.abort()
