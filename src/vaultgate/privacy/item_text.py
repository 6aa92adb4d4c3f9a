"""The text of one Responses API output item while it streams, read as one across its content parts.

Response scanning holds back the last characters of the text (see :mod:`vaultgate.privacy.response_scan`);
here that held text may span the end of one content part and the start of the next, so a value
split across two parts is still seen whole. Events about the item that arrive while text before
them is still held (a part's ``.done``, the next part's ``.added``) wait, in order, until that
text has been sent: the client always gets a part's text before the events that close it, and a
``.done`` event carries exactly the text its deltas carried.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from vaultgate.privacy.response_scan import ResponseScanner, Segment, Sent


@dataclass(frozen=True, slots=True)
class PartText:
    """Masked text to send as a delta of ``part`` (built from that part's last delta event)."""

    part: Hashable
    text: str


@dataclass(frozen=True, slots=True)
class Released:
    """An event that waited for the text before it; now due."""

    event: bytes
    document: Any


Output = PartText | Released


class ItemText:
    """Held text, sent text per part, and waiting events of one output item."""

    __slots__ = ("_decided", "_emitted", "_held", "_queue", "_received", "_scanner", "templates")

    def __init__(self, scanner: ResponseScanner) -> None:
        self._scanner = scanner
        self._held: list[Segment] = []
        self._received = 0  # characters of text received for the item
        self._decided = 0  # of which sent (masked) or dropped as the rest of a masked value
        self._queue: list[tuple[int, bytes, Any]] = []  # (text received before it, event, document)
        self._emitted: dict[Hashable, list[str]] = {}
        self.templates: dict[Hashable, tuple[bytes, Any]] = {}  # last delta event per part

    def add(self, part: Hashable, text: str) -> list[Output]:
        """More text of ``part``: what can be sent now (and the events that were waiting for it)."""
        self._received += len(text)
        sent, self._held = self._scanner.stream_segments(self._held, part, text)
        return self._release(sent)

    def wait(self, event: bytes, document: Any) -> list[Output]:
        """An event about the item: due now if no text before it is held, else later."""
        if not self._held:
            return [Released(event, document)]
        self._queue.append((self._received, event, document))
        return []

    def end(self) -> list[Output]:
        """The item's text is over: the rest, masked, and every waiting event."""
        sent = self._scanner.flush_segments(self._held)
        self._held = []
        return self._release(sent)

    def text_of(self, part: Hashable) -> str | None:
        """All text sent for ``part`` so far, or None if the part had no deltas."""
        if part not in self.templates:
            return None
        return "".join(self._emitted.get(part, ()))

    def _release(self, sent: list[Sent]) -> list[Output]:
        out: list[Output] = []
        for part, masked, length in sent:
            self._due(out)
            if masked:
                out.append(PartText(part, masked))
                self._emitted.setdefault(part, []).append(masked)
            self._decided += length
        self._due(out)
        return out

    def _due(self, out: list[Output]) -> None:
        queue = self._queue
        while queue and queue[0][0] <= self._decided:
            _, event, document = queue.pop(0)
            out.append(Released(event, document))
