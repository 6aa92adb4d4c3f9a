"""``vaultgate exec --refresh``'s credential endpoint: fresh ``vgt_`` tokens for the command it runs.

The parent serves, on 127.0.0.1 only, at a path with 256 random bits (``VAULTGATE_TOKEN_URL`` in
the child's environment is the whole capability), ``GET`` answers
``{"object": "vaultgate.token", "token": "vgt_…", "expires_at": <unix>}`` from its
:class:`~vaultgate.client.token_source.TokenSource`, which refreshes before expiry. Once the
parent's key is refused (revoked, expired), it answers 401 in OpenAI's error shape with the
clear message, and never a token again. A thread refreshes the token when due even when nobody
asks. Requests that carry an ``Origin`` header (a browser's) are refused, and nothing is logged
(the path is the secret).
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from vaultgate.client.errors import ClientError, ExchangeLimited, GatewayRefused, GatewayUnreachable, KeyRefused
from vaultgate.client.gateway_api import ShortLivedToken, raise_for, token_from
from vaultgate.client.token_source import TokenSource

TOKEN_URL_VARIABLE = "VAULTGATE_TOKEN_URL"  # noqa: S105 - a variable's name
# How often the parent looks whether its token is due for refresh (cheap: no lock, no I/O until due).
REFRESH_CHECK_SECONDS = 1.0


def _status_of(error: ClientError) -> int:
    if isinstance(error, GatewayRefused):
        return error.status if error.status >= 400 else 502
    return 503 if isinstance(error, GatewayUnreachable) else 500


class CredentialEndpoint:
    """The loopback server; ``url`` is what goes into the child's ``VAULTGATE_TOKEN_URL``."""

    def __init__(self, source: TokenSource) -> None:
        self._path = "/" + secrets.token_urlsafe(32)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint._answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._source = source
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="vaultgate-credentials", daemon=True)
        self._stopped = threading.Event()
        self._refresher = threading.Thread(target=self._keep_fresh, name="vaultgate-token-refresh", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/<random path>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}{self._path}"

    def start(self) -> CredentialEndpoint:
        """Serve in a daemon thread; another refreshes the token before it expires, asked or not."""
        self._thread.start()
        self._refresher.start()
        return self

    def close(self) -> None:
        """Stop serving."""
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def _keep_fresh(self) -> None:
        while not self._stopped.wait(REFRESH_CHECK_SECONDS):
            try:
                self._source.current()  # refreshes when due; a refused key makes the source final
            except ClientError:
                continue  # the next request to the endpoint is answered with this error

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        if not secrets.compare_digest(request.path.encode(), self._path.encode()):
            self._send(request, 404, _error("not found", "unknown_url"))
        elif request.headers.get("Origin") is not None:
            self._send(request, 403, _error("not for browsers", "permission_denied"))
        else:
            try:
                token = self._source.current()
            except ClientError as exc:
                headers = {"retry-after": f"{exc.retry_after:g}"} if isinstance(exc, ExchangeLimited) else {}
                code = exc.code if isinstance(exc, GatewayRefused) else "gateway_unreachable"
                self._send(request, _status_of(exc), _error(str(exc), code), headers)
                return
            body = {"object": "vaultgate.token", "token": token.token, "expires_at": token.expires_at}
            self._send(request, 200, body)

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("content-type", "application/json")
        request.send_header("cache-control", "no-store")
        request.send_header("content-length", str(len(payload)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)


def _error(message: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "vaultgate_client_error", "param": None, "code": code}}


def fetch_from(url: str) -> ShortLivedToken:
    """A fresh token from the endpoint of the ``vaultgate exec --refresh`` that started this process."""
    try:
        response = httpx.get(url, timeout=30.0, follow_redirects=False)
    except httpx.TransportError:
        raise GatewayUnreachable(
            f"the credential endpoint in {TOKEN_URL_VARIABLE} does not answer: it lives only as long as the "
            "`vaultgate exec --refresh` that started this process"
        ) from None
    if response.status_code == 401:
        raise KeyRefused(_message(response) or KeyRefused().args[0])
    if not response.is_success:
        message = _message(response)
        if message is not None:
            if response.status_code == 429:
                raise ExchangeLimited(message, float(response.headers.get("retry-after", "60")))
            raise GatewayRefused(message, response.status_code)
        raise_for(response, f"the credential endpoint in {TOKEN_URL_VARIABLE}")
    return token_from(response.json())


def _message(response: httpx.Response) -> str | None:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None
    return str(message) if message else None
