"""Refusals of the privacy stage; the gateway answers them as 400 errors in OpenAI's shape.

PrivacyRefusal          ``code`` is ``secret_detected`` or ``pii_blocked``; the message names
                        the kind of value, never the value.
"""

from __future__ import annotations


class PrivacyRefusal(Exception):
    """The request carries something its policy blocks."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
