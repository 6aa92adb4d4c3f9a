"""Text hidden in base64: plain base64 runs and ``data:`` URIs whose payload decodes to text.

A secret or an address encoded in base64 is still that secret or address. Runs of base64
characters (16 or more; any length after ``data:...;base64,``) are decoded, standard or
URL-safe alphabet; when the bytes are UTF-8 text of printable characters, the caller scans
that text and, on a hit, treats the whole encoded run as the value. Binary payloads (images,
audio) are not text and are left alone: see docs/PRIVACY.md for what that leaves out.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

_BLOB = re.compile(
    r"data:[\w.+-]*/?[\w.+-]*(?:;[\w.+-]+=[\w.+%-]+)*;base64,(?P<uri>[A-Za-z0-9+/_-]+={0,2})"
    r"|(?<![A-Za-z0-9+/_=-])(?P<plain>[A-Za-z0-9+/_-]{16,}={0,2})(?![A-Za-z0-9+/_=-])",
    re.ASCII,
)
# A decoded payload counts as text when nearly all of it is printable or white space.
_TEXT_SHARE = 0.95


@dataclass(frozen=True, slots=True)
class Blob:
    """An encoded run at ``[start, end)`` of the text it was found in, and the text it decodes to."""

    start: int
    end: int
    decoded: str


def _as_text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n")
    return text if printable >= _TEXT_SHARE * len(text) else None


def _decode(run: str) -> str | None:
    padded = run.rstrip("=")
    if len(padded) % 4 == 1:
        return None
    padded += "=" * (-len(padded) % 4)
    urlsafe = "-" in padded or "_" in padded
    if urlsafe and ("+" in padded or "/" in padded):
        return None
    try:
        data = base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _as_text(data)


def _long_words(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the white-space-separated words of 16 characters or more (``str.split`` is the
    cheapest pass over prose: a regex tried at every position costs several times more)."""
    position = 0
    for word in text.split():
        if len(word) >= 16:
            start = text.find(word, position)
            position = start + len(word)
            yield start, position


def blobs(text: str) -> Iterator[Blob]:
    """The base64 runs of ``text`` that decode to text, in order."""
    spans = [(0, len(text))] if "base64," in text else _long_words(text)
    for start, end in spans:
        for match in _BLOB.finditer(text, start, end):
            group = "uri" if match.group("uri") is not None else "plain"
            decoded = _decode(match.group(group))
            if decoded is not None:
                yield Blob(match.start(), match.end(), decoded)
