"""Optional response scanning: mask personal data that only the model's answer contains.

Answers are read the way requests are (:func:`~vaultgate.privacy.textview.find_pii`: folded,
escapes and base64 decoded), and a value is masked in the form it was written in. Values the
client itself sent (the request's redaction map) are left alone. In a stream the
last :data:`HOLD` characters of each text field are held back until more text arrives, so a
value split across chunks is still seen whole; this delays the stream by up to that many
characters, the stated price of the mode (off by default).

Adjacent text parts of one message are read as one text (:meth:`ResponseScanner.mask_parts`):
a value that runs from one part into the next is masked where it starts and removed from the
part it runs on into, so no part ever shows a piece of it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from vaultgate.detect.pii import PiiDetector
from vaultgate.privacy.redact import mask
from vaultgate.privacy.textview import find_pii

# Longer than any validated-format value written with separators, escapes or disguises.
HOLD = 128

Segment = tuple[Hashable, str]  # (content part, text) of one message's text
Sent = tuple[Hashable, str, int]  # (content part, masked text, length of the raw text it stands for)


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
        masked, cut = self.mask_parts((text,), cut)
        return masked[0], cut

    def mask_parts(self, parts: Sequence[str], cut: int | None = None) -> tuple[list[str], int]:
        """``parts`` read as one text, masked up to ``cut`` (moved back to the start of a value it would split).

        One masked string per part (covering only what lies before the cut); a value that
        crosses into the next part is masked in the part where it starts and removed from the next.
        """
        text = "".join(parts)
        cut = len(text) if cut is None else cut
        matches = find_pii(self._detector, text) if text else []
        for match in matches:
            if match.start < cut < match.end:
                cut = match.start
        edits = [
            (m.start, m.end, mask(m.entity, m.value))
            for m in matches
            if m.end <= cut and m.value not in self._client_values
        ]
        out: list[str] = []
        start = 0
        index = 0
        for part in parts:
            end = min(start + len(part), cut)
            pieces: list[str] = []
            position = start
            while index < len(edits) and edits[index][0] < end:
                value_start, value_end, masked = edits[index]
                if value_start >= position:
                    pieces.append(text[position:value_start])
                    pieces.append(masked)
                position = max(position, min(value_end, end))
                if value_end > end:
                    break  # runs on into the next part: the rest of it is dropped there
                index += 1
            if position < end:
                pieces.append(text[position:end])
            out.append("".join(pieces))
            start += len(part)
        return out, cut

    def stream_segments(self, held: list[Segment], part: Hashable, text: str) -> tuple[list[Sent], list[Segment]]:
        """(what to send now, what to hold) when ``text`` of ``part`` follows the held text of one message."""
        same = bool(held) and held[-1][0] == part
        segments = [*held[:-1], (part, held[-1][1] + text)] if same else [*held, (part, text)]
        total = sum(len(t) for _, t in segments)
        if total <= HOLD:
            return [], segments
        masked, cut = self.mask_parts([t for _, t in segments], total - HOLD)
        sent: list[Sent] = []
        rest: list[Segment] = []
        position = 0
        for (seg_part, seg_text), seg_masked in zip(segments, masked, strict=True):
            decided = max(0, min(len(seg_text), cut - position))
            if decided:
                sent.append((seg_part, seg_masked, decided))
            if decided < len(seg_text):
                rest.append((seg_part, seg_text[decided:]))
            position += len(seg_text)
        return sent, rest

    def flush_segments(self, held: list[Segment]) -> list[Sent]:
        """Everything held, masked: the message's text has ended."""
        masked, _ = self.mask_parts([t for _, t in held])
        return [(p, m, len(t)) for (p, t), m in zip(held, masked, strict=True)]

    def stream_piece(self, held: str, text: str) -> tuple[str, str]:
        """(masked text to send now, text to hold) for a new piece of one stream field."""
        combined = held + text
        if len(combined) <= HOLD:
            return "", combined
        sent, cut = self.mask_upto(combined, len(combined) - HOLD)
        return sent, combined[cut:]
