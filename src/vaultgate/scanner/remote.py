"""The two optional network calls: leak-to-revoke (admin API) and key liveness (--verify).

Plain ``http://`` is accepted only for loopback hosts, as everywhere in vaultgate; the
admin token and the keys being verified travel only in the ``Authorization`` header, and
``--revoke`` sends SHA-256 fingerprints, never a plaintext token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vaultgate.scanner.errors import RemoteError, ScanUsageError
from vaultgate.upstream.config import UnsafeURLError, check_base_url

DEFAULT_ADMIN_URL = "http://127.0.0.1:8080"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class RevokedKey:
    """A key the admin API revoked: its stable id and its masked display form."""

    id: str
    display: str


@dataclass(frozen=True, slots=True)
class RevokeOutcome:
    """What the admin API did with the fingerprints it was sent."""

    revoked: tuple[RevokedKey, ...]
    unknown: int


def check_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, checked by the one URL rule (``upstream.config.check_base_url``)."""
    try:
        return check_base_url(url, allow_insecure_http=True)
    except UnsafeURLError as exc:
        raise ScanUsageError(f"{what}: {exc}") from None


def _request(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteError(f"cannot reach {request.full_url}: {reason}") from exc


def report_leaked(
    admin_url: str, admin_token: str, fingerprints: Iterable[str], *, timeout: float = 10.0
) -> RevokeOutcome:
    """POST the SHA-256 fingerprints of leaked tokens to ``/admin/keys/leaked``."""
    base = check_url(admin_url, "admin URL")
    body = json.dumps({"fingerprints": sorted(set(fingerprints)), "source": "scan"}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked by check_url
        f"{base}/admin/keys/leaked",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {admin_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    status, payload = _request(request, timeout)
    if status != 200:
        raise RemoteError(f"admin API answered {status} to the leak report")
    try:
        document: Any = json.loads(payload)
        revoked = tuple(RevokedKey(id=str(item["id"]), display=str(item["display"])) for item in document["revoked"])
        unknown = int(document.get("unknown", 0))
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError("admin API sent an unexpected answer to the leak report") from exc
    return RevokeOutcome(revoked=revoked, unknown=unknown)


def verify_openai_key(key: str, base_url: str, *, timeout: float = 10.0) -> str:
    """``live`` (the key lists models), ``dead`` (401) or ``unknown`` (anything else)."""
    base = check_url(base_url, "verify base URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked by check_url
        f"{base}/models", headers={"Authorization": f"Bearer {key}"}, method="GET"
    )
    try:
        status, _ = _request(request, timeout)
    except RemoteError:
        return "unknown"
    if status == 200:
        return "live"
    if status == 401:
        return "dead"
    return "unknown"
