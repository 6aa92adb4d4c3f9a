"""An ASGI app built on its first request: the planes a replica may never serve cost nothing until used.

The admin API (FastAPI and its pydantic models), the console (with OIDC, joserfc) and SCIM (scim2-models,
lark) cost a fresh worker about 30 MB and a third of its imports' time (docs/PERFORMANCE.md, "Start-up and
memory"). :class:`LazyApp` stands where such an app is mounted and builds it the first
time a request reaches it: in a worker thread (importing and building takes a few hundred milliseconds,
which the event loop, serving ``/v1`` meanwhile, must not wait for), at most once (a lock taken in that
thread; requests arriving during the build wait for it and then use the same app). A build that raises
is not kept: that request fails as any failing app's would, and the next one tries again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from vaultgate.gateway.asgi import ASGIApp, Receive, Scope, Send


class LazyApp:
    """The app ``build()`` returns, built on the first call (thread-safe, at most once)."""

    def __init__(self, build: Callable[[], ASGIApp], name: str) -> None:
        self._build = build
        self.name = name  # for logs and the thread's name: "admin", "console", "scim"
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the app was built (a request reached it, or :meth:`app` was called)."""
        return self._app is not None

    def app(self) -> ASGIApp:
        """The app, built now if no one did yet (blocks the calling thread while building)."""
        app = self._app
        if app is not None:
            return app
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            app = await asyncio.to_thread(self.app)
        await app(scope, receive, send)
