"""Common escapes in prompt text (``%40``, ``&#64;``, ``&commat;``, ``\\u0040``, ``\\x40``), decoded
with a map back to the original offsets, so a value written escaped is found and replaced too.

Escapes of ASCII characters are decoded, and numeric escapes of any character (``&#8203;``,
``&#x200B;``, ``\\u200b``, percent-encoded UTF-8 such as ``%E2%80%8B``): the view then folds
what they stand for (a zero-width space written as an entity inside a key is removed like a
literal one; see :mod:`vaultgate.privacy.textview`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_ESCAPE = re.compile(
    r"%[C-Fc-f][0-9A-Fa-f](?:%[89ABab][0-9A-Fa-f]){1,3}|%[0-7][0-9A-Fa-f]|&(?:#\d{1,7}|#[xX][0-9A-Fa-f]{1,6}|amp|commat|period|plus|lpar|rpar|dash|hyphen);"
    r"|\\u[0-9A-Fa-f]{4}|\\x[0-7][0-9A-Fa-f]"
)
_NAMED = {"amp": "&", "commat": "@", "period": ".", "plus": "+", "lpar": "(", "rpar": ")", "dash": "-", "hyphen": "-"}
_MAYBE = re.compile(r"[%&\\]")


def _char(escape: str) -> str | None:
    if escape[0] == "%":
        if len(escape) > 3:  # percent-encoded UTF-8 of one non-ASCII character
            try:
                char = bytes.fromhex(escape.replace("%", "")).decode("utf-8")
            except UnicodeDecodeError:
                return None
            return char if len(char) == 1 else None
        return chr(int(escape[1:], 16))
    if escape[0] == "\\":
        return _code_point(int(escape[2:], 16))
    body = escape[1:-1]
    if body[0] == "#":
        return _code_point(int(body[2:], 16) if body[1] in "xX" else int(body[1:]))
    return _NAMED.get(body)


def _code_point(code: int) -> str | None:
    """The character of a numeric escape; None for surrogates and values past Unicode."""
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded text and, for each decoded escape, its decoded offset, original offset and length."""

    text: str
    decoded_at: tuple[int, ...]
    original_at: tuple[int, ...]
    original_len: tuple[int, ...]

    def _original(self, position: int) -> tuple[int, int]:
        """Original (start, length) of the decoded character at ``position``."""
        index = bisect.bisect_right(self.decoded_at, position) - 1
        if index < 0:
            return position, 1
        if self.decoded_at[index] == position:
            return self.original_at[index], self.original_len[index]
        return self.original_at[index] + self.original_len[index] + (position - self.decoded_at[index] - 1), 1

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of decoded ``[start, end)``."""
        first, _ = self._original(start)
        last, width = self._original(end - 1)
        return first, last + width


def decode(text: str) -> Decoded | None:
    """``text`` with common escapes decoded, or None when it has none."""
    if _MAYBE.search(text) is None:
        return None
    pieces: list[str] = []
    decoded_at: list[int] = []
    original_at: list[int] = []
    original_len: list[int] = []
    last = 0
    length = 0
    for match in _ESCAPE.finditer(text):
        char = _char(match.group())
        if char is None:
            continue
        start = match.start()
        pieces.append(text[last:start])
        length += start - last
        decoded_at.append(length)
        original_at.append(start)
        original_len.append(match.end() - start)
        pieces.append(char)
        length += 1
        last = match.end()
    if not decoded_at:
        return None
    pieces.append(text[last:])
    return Decoded("".join(pieces), tuple(decoded_at), tuple(original_at), tuple(original_len))
