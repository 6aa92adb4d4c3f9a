"""Optional response scanning: mask personal data that only the model's answer contains.

Values the client itself sent (the request's redaction map) are left alone. In a stream the
last :data:`HOLD` characters of each text field are held back until more text arrives, so a
value split across chunks is still seen whole; this delays the stream by up to that many
characters, the stated price of the mode (off by default).
"""

from __future__ import annotations

from vaultgate.detect.pii import PiiDetector
from vaultgate.privacy.redact import mask

HOLD = 64  # longer than any validated-format value written with separators


class ResponseScanner:
    """Masks matches of ``detector`` in answer text, except values in ``client_values``."""

    __slots__ = ("_client_values", "_detector")

    def __init__(self, detector: PiiDetector, client_values: frozenset[str]) -> None:
        self._detector = detector
        self._client_values = client_values

    def mask_all(self, text: str) -> str:
        """``text`` with every foreign match masked."""
        return self.mask_upto(text, len(text))[0]

    def mask_upto(self, text: str, cut: int) -> tuple[str, int]:
        """Masked ``text[:cut']`` and ``cut'``: ``cut`` moved back to the start of a value it would split."""
        if not text:
            return text, 0
        matches = self._detector.find(text)
        for match in matches:
            if match.start < cut < match.end:
                cut = match.start
        pieces: list[str] = []
        last = 0
        for match in matches:
            if match.end > cut:
                break
            if match.value in self._client_values:
                continue
            pieces.append(text[last : match.start])
            pieces.append(mask(match.entity, match.value))
            last = match.end
        pieces.append(text[last:cut])
        return "".join(pieces), cut

    def stream_piece(self, held: str, text: str) -> tuple[str, str]:
        """(masked text to send now, text to hold) for a new piece of one stream field."""
        combined = held + text
        if len(combined) <= HOLD:
            return "", combined
        sent, cut = self.mask_upto(combined, len(combined) - HOLD)
        return sent, combined[cut:]
