"""A string as the detectors read it, with the way back to the string as written.

Folding (:mod:`vaultgate.detect.normalise`: format characters removed, NFKC, look-alike
letters) comes first, then the common escapes (:mod:`vaultgate.privacy.escapes`), so a
fullwidth ``％４０`` is read as ``@`` too, then folding again when escapes stood for
non-ASCII characters (``&#8203;``, a zero-width space). Each step keeps an offset map; a match in the view is
edited in the original through :meth:`TextView.original_span`. Request redaction and response
scanning read text through the same view: one standard both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

from vaultgate.detect.normalise import Folded, fold
from vaultgate.detect.pii import PiiDetector, PiiMatch
from vaultgate.privacy.encoded import blobs
from vaultgate.privacy.escapes import Decoded, decode


@dataclass(frozen=True, slots=True)
class TextView:
    """``text`` is what the detectors read; ``original_span`` maps a span of it back."""

    text: str
    folded: Folded | None
    decoded: Decoded | None
    refolded: Folded | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original string that view ``[start, end)`` stands for."""
        if self.refolded is not None:
            start, end = self.refolded.original_span(start, end)
        if self.decoded is not None:
            start, end = self.decoded.original_span(start, end)
        if self.folded is not None:
            start, end = self.folded.original_span(start, end)
        return start, end


def view(text: str) -> TextView | None:
    """The detectors' view of ``text``, or None when it is the text itself (the common case)."""
    folded = fold(text)
    middle = folded.text if folded is not None else text
    decoded = decode(middle)
    if folded is None and decoded is None:
        return None
    if decoded is None:
        return TextView(middle, folded, None)
    refolded = fold(decoded.text)
    return TextView(refolded.text if refolded is not None else decoded.text, folded, decoded, refolded)


def find_pii(detector: PiiDetector, text: str) -> list[PiiMatch]:
    """``detector.find`` over the view of ``text``: spans in ``text`` itself, values as read (decoded).

    A base64 run whose text holds personal data is one match covering the whole run.
    """
    seen = view(text)
    source = seen.text if seen is not None else text
    found = detector.find(source)
    for blob in blobs(source):
        inner = view(blob.decoded)
        hits = detector.find(inner.text if inner is not None else blob.decoded)
        if hits and not any(m.start < blob.end and blob.start < m.end for m in found):
            found.append(PiiMatch(hits[0].entity, blob.start, blob.end, source[blob.start : blob.end]))
    found.sort(key=lambda m: m.start)
    if seen is None:
        return found
    mapped = []
    for match in found:
        start, end = seen.original_span(match.start, match.end)
        mapped.append(PiiMatch(match.entity, start, end, match.value))
    return mapped
