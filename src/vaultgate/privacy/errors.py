"""Refusals of the privacy stage; the gateway answers them in OpenAI's error shape.

PrivacyRefusal          400; ``code`` is ``secret_detected`` or ``pii_blocked``; the message names
 |                      the kind of value, never the value.
 +-- ScanBudgetExceeded 413 ``request_too_large``: the body is larger than the scanning budget
 +-- ScanTimeout        503 ``privacy_scan_timeout``: the scan did not finish within its deadline

The last two fail closed: a body that was not scanned whole is never forwarded.
"""

from __future__ import annotations


class PrivacyRefusal(Exception):
    """The request carries something its policy blocks."""

    status = 400

    def __init__(self, code: str, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The kind of value that was found (``secret``, ``email``...), for metrics; never the value.
        self.kind = kind


class ScanBudgetExceeded(PrivacyRefusal):
    """The body is larger than the privacy scan may read (``VAULTGATE_PRIVACY_SCAN_MAX_BYTES``)."""

    status = 413

    def __init__(self, size: int, budget: int) -> None:
        super().__init__(
            "request_too_large",
            f"The request body ({size} bytes) exceeds the privacy scanning budget of {budget} bytes "
            "(VAULTGATE_PRIVACY_SCAN_MAX_BYTES); vaultgate does not forward what it has not scanned.",
        )


class ScanTimeout(PrivacyRefusal):
    """The privacy scan ran past its deadline (``VAULTGATE_PRIVACY_SCAN_TIMEOUT``)."""

    status = 503

    def __init__(self, timeout: float) -> None:
        super().__init__(
            "privacy_scan_timeout",
            f"The privacy scan of this request did not finish within {timeout:g} s "
            "(VAULTGATE_PRIVACY_SCAN_TIMEOUT); it was not forwarded. Send a smaller request.",
        )
