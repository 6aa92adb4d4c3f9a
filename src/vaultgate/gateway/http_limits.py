"""Limits on how long and how large a request may be before the gateway gives up on it.

The server enforces the head limits while parsing (``vaultgate.serving``: a head that is too
slow or too large never reaches the app); the app enforces them again on what it is handed
(:func:`header_refusal`), so they hold under any ASGI server, and enforces the body timeouts
itself (:func:`vaultgate.gateway.body_deadlines`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vaultgate.gateway.errors import GatewayError


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """How long a client may take to send a request, and how large its head may be."""

    header_timeout: float = 10.0  # seconds for the request line and headers, from connection or first byte
    body_idle_timeout: float = 15.0  # seconds the body may stall between two reads
    body_timeout: float = 120.0  # seconds for the whole body
    max_header_count: int = 100
    max_header_bytes: int = 32 * 1024  # request line and header fields together


def request_timeout(what: str) -> GatewayError:
    """The 408 for a client that did not send ``what`` ("body", "head") in time."""
    return GatewayError(
        408, "request_timeout", f"The request {what} was not received in time; the connection is closed."
    )


def headers_too_large(limits: HttpLimits) -> GatewayError:
    """The 431 for a head over the count or size limit."""
    return GatewayError(
        431,
        "request_header_fields_too_large",
        f"The request headers exceed the limit of {limits.max_header_count} fields or {limits.max_header_bytes} bytes.",
    )


def header_refusal(headers: Sequence[tuple[bytes, bytes]], limits: HttpLimits) -> GatewayError | None:
    """The 431 when ``headers`` exceed the count or total size limit, else None."""
    if len(headers) > limits.max_header_count:
        return headers_too_large(limits)
    # 4 bytes per field for ": " and CRLF, as on the wire.
    if sum(len(name) + len(value) + 4 for name, value in headers) > limits.max_header_bytes:
        return headers_too_large(limits)
    return None
