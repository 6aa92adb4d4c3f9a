"""Text as the detectors should read it: disguises folded away, with a map back to the original.

A value written with look-alike characters is still the value. Before detection each
non-ASCII character is folded: format characters (category Cf: zero-width space and joiner,
word joiner, BOM, bidi controls...), variation selectors and invisible fillers are removed;
NFKC turns fullwidth, mathematical, circled and superscript forms into plain ones
(``＠`` → ``@``, ``ｓｋ`` → ``sk``, ``①`` → ``1``); Cyrillic and Greek letters that look like
Latin ones become those Latin letters; decimal digits of any script become ASCII digits.
ASCII text is returned as it is, at the cost of one ``isascii`` check.

Folding is per character, so :class:`Folded` can say where each folded character came from:
a match in the folded text is edited in the original (:meth:`Folded.original_span`).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from types import MappingProxyType

# Look-alikes of Latin letters in Cyrillic and Greek (the ones that pass for Latin in common fonts).
_CONFUSABLE = MappingProxyType(
    {
        # Cyrillic capitals and small letters
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
        "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y", "Һ": "h",
        "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
        "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ү": "y", "һ": "h",
        "ь": "b", "ӏ": "l", "Ӏ": "l", "ɡ": "g",
        # Greek capitals and small letters
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
        "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k",
        "υ": "u", "τ": "t", "ϲ": "c", "ϳ": "j", "Ϲ": "C",
        # Latin variants NFKC keeps
        "ı": "i", "ȷ": "j", "ꓲ": "I",
    }
)  # fmt: skip
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# Invisible characters outside category Cf: variation selectors, Hangul fillers, braille blank.
_INVISIBLE = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x034F})


def fold_char(char: str) -> str:
    """What ``char`` (one non-ASCII character) stands for: ``""`` when invisible."""
    code = ord(char)
    if (
        code in _INVISIBLE
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or unicodedata.category(char) == "Cf"
    ):
        return ""
    folded = _CONFUSABLE.get(char)
    if folded is not None:
        return folded
    decimal = unicodedata.decimal(char, None)
    if decimal is not None:
        return str(decimal)
    normal = unicodedata.normalize("NFKC", char)
    if normal == char:
        return char
    return "".join(_CONFUSABLE.get(c, c) for c in normal)


@dataclass(frozen=True, slots=True)
class Folded:
    """A folded text and, per changed character, its folded (start, length) and original offset.

    An original character is one character long; its folded form may be empty (removed) or
    longer (``ﬁ`` → ``fi``).
    """

    text: str
    folded_at: tuple[int, ...]
    folded_len: tuple[int, ...]
    original_at: tuple[int, ...]

    def _original(self, position: int) -> tuple[int, int]:
        """Original (start, end) of the folded character at ``position``."""
        index = bisect.bisect_right(self.folded_at, position) - 1
        if index < 0:
            return position, position + 1
        start, length = self.folded_at[index], self.folded_len[index]
        if position < start + length:
            return self.original_at[index], self.original_at[index] + 1
        original = self.original_at[index] + 1 + (position - start - length)
        return original, original + 1

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of folded ``[start, end)`` (removed characters inside it included)."""
        if end <= start:
            first, _ = self._original(start)
            return first, first
        first, _ = self._original(start)
        _, last = self._original(end - 1)
        return first, last


def fold(text: str) -> Folded | None:
    """``text`` with disguises folded away, or None when nothing changes (always for ASCII)."""
    if text.isascii():
        return None
    pieces: list[str] = []
    folded_at: list[int] = []
    folded_len: list[int] = []
    original_at: list[int] = []
    last = 0
    length = 0
    for run in _NON_ASCII.finditer(text):
        start = run.start()
        for offset, char in enumerate(run.group()):
            folded = fold_char(char)
            if folded == char:
                continue
            position = start + offset
            pieces.append(text[last:position])
            length += position - last
            folded_at.append(length)
            folded_len.append(len(folded))
            original_at.append(position)
            pieces.append(folded)
            length += len(folded)
            last = position + 1
    if not folded_at:
        return None
    pieces.append(text[last:])
    return Folded("".join(pieces), tuple(folded_at), tuple(folded_len), tuple(original_at))
