"""Splitting a Server-Sent Events byte stream into whole events, across any chunking."""

from __future__ import annotations

_SEPARATORS = (b"\r\n\r\n", b"\n\n")


class EventSplitter:
    """Feed it chunks; it returns each complete event (with its blank-line terminator)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The events completed by ``chunk``; the rest stays buffered."""
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" not in buffer:  # the usual stream: one separator, found by split() in one pass
            *whole, self._buffer = buffer.split(b"\n\n")
            return [event + b"\n\n" for event in whole]
        events: list[bytes] = []
        start = 0
        while True:
            cut = -1
            width = 0
            for sep in _SEPARATORS:
                idx = buffer.find(sep, start)
                if idx != -1 and (cut == -1 or idx < cut):
                    cut, width = idx, len(sep)
            if cut == -1:
                break
            events.append(buffer[start : cut + width])
            start = cut + width
        self._buffer = buffer[start:]
        return events

    @property
    def pending(self) -> int:
        """Bytes of the event not yet complete (a cap on it bounds memory)."""
        return len(self._buffer)

    def close(self) -> bytes:
        """Whatever is left (an unterminated last event), emptied."""
        rest, self._buffer = self._buffer, b""
        return rest


def data_of(event: bytes) -> bytes:
    """The joined ``data:`` lines of one event."""
    lines = []
    for line in event.splitlines():
        if line.startswith(b"data:"):
            value = line[5:]
            # The SSE syntax owns one space after the colon; any further spaces are data.
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines)
