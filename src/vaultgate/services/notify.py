"""Webhook notifications (key leaked, rotation due, canary used, provider credential refused), sent in the background.

The payload is metadata only: ids, member names, display forms, addresses. A webhook
that fails is logged (without its payload) and not retried: the audit log is the record.
Redirects are not followed: the address was checked (https, or http to loopback; no
link-local or metadata host), and a receiver that answers 3xx must not send vaultgate on to
one that was not (a redirect is a failed delivery).
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from datetime import UTC, datetime
from typing import Any

import orjson

from vaultgate.upstream.config import UnsafeURLError, check_base_url

log = logging.getLogger("vaultgate.notify")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError for the 3xx


_OPENER = urllib.request.build_opener(_NoRedirects)


class Notifier:
    """Posts JSON events to the configured webhook URL (https, or http to loopback)."""

    def __init__(self, url: str | None, *, timeout: float = 5.0, allow_link_local: bool = False) -> None:
        if url:
            try:
                check_base_url(url, allow_insecure_http=True, allow_link_local=allow_link_local)
            except UnsafeURLError as exc:
                raise ValueError(f"VAULTGATE_WEBHOOK_URL: {exc}") from None
        self._url = url
        self._timeout = timeout

    @property
    def enabled(self) -> bool:
        """Whether a webhook is configured."""
        return bool(self._url)

    def send(self, event: dict[str, Any]) -> None:
        """Queue one event for delivery (non-blocking)."""
        if not self._url:
            return
        body = orjson.dumps({"at": datetime.now(UTC).isoformat(), **event})
        threading.Thread(target=self._post, args=(body, str(event.get("event"))), daemon=True).start()

    def deliver(self, event: dict[str, Any]) -> bool:
        """Post one event now and wait: whether the webhook answered 2xx (for a caller that must know)."""
        if not self._url:
            return False
        return self._post(orjson.dumps({"at": datetime.now(UTC).isoformat(), **event}), str(event.get("event")))

    def _post(self, body: bytes, name: str) -> bool:
        assert self._url is not None
        request = urllib.request.Request(  # noqa: S310 - the scheme was checked in __init__
            self._url, data=body, headers={"content-type": "application/json", "user-agent": "vaultgate"}
        )
        try:
            with _OPENER.open(request, timeout=self._timeout) as response:
                response.read()
        except OSError as exc:
            log.warning("webhook for %s failed: %s", name, type(exc).__name__)
            return False
        return True
