"""Edits of one text: (start, end, replacement) spans, merged, extended to every occurrence, applied.

Everything here is linear in the text: a 1 MB prompt with 60,000 values to replace must not
cost 60,000 passes over it (it once took 16 s), nor 60,000 copies of it.
"""

from __future__ import annotations

import re

Edit = tuple[int, int, str]
# How far around an edit the edited text is searched again (longer than any value's context).
AROUND = 64
# Up to this many characters searched in all (values x text), one str.find pass per value is
# the cheapest search (a few milliseconds at most); beyond, a prefix lookup keeps it linear.
_FIND_BUDGET = 1 << 24


def apply_edits(text: str, edits: list[Edit], around: list[str] | None = None) -> str:
    """``text`` with sorted, non-overlapping ``edits`` applied (one join: linear in the text).

    With ``around``, the new text within :data:`AROUND` characters of each edit is appended to
    it (merged where windows overlap), for a check that the edits made nothing new readable.
    """
    pieces: list[str] = []
    spans: list[tuple[int, int]] = []
    position = 0
    length = 0
    for start, end, replacement in edits:
        if start < position:
            continue
        pieces.append(text[position:start])
        length += start - position
        spans.append((length, length + len(replacement)))
        pieces.append(replacement)
        length += len(replacement)
        position = end
    pieces.append(text[position:])
    new = "".join(pieces)
    if around is not None:
        window_start, window_end = -1, -1
        for start, end in spans:
            low, high = max(0, start - AROUND), min(len(new), end + AROUND)
            if low > window_end:
                if window_end > window_start:
                    around.append(new[window_start:window_end])
                window_start = low
            window_end = max(window_end, high)
        if window_end > window_start >= 0:
            around.append(new[window_start:window_end])
    return new


def merge_edits(edits: list[tuple[int, int, str, int]]) -> list[Edit]:
    """One slot's edits in order, overlapping ones joined (a split-secret edit wins)."""
    merged: list[tuple[int, int, str, int]] = []
    for start, end, replacement, rank in sorted(edits, key=lambda e: (e[0], -e[1])):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            keep = (replacement, rank) if rank > last[3] else (last[2], last[3])
            merged[-1] = (last[0], max(last[1], end), keep[0], keep[1])
        else:
            merged.append((start, end, replacement, rank))
    return [(s, e, r) for s, e, r, _ in merged]


def every_occurrence(text: str, edits: list[Edit]) -> None:
    """Replace every other verbatim occurrence of a value already found (one the recognisers
    missed in a context such as ``a@b.org4111``): once a value is known, it never leaves raw.

    Linear in the text: few values are searched with ``str.find``; many are looked up by
    prefix, only in the text that no edit covers yet.
    """
    replacements = {text[s:e]: r for s, e, r in edits}
    taken = sorted((s, e) for s, e, _ in edits)
    found: list[Edit] = []
    if len(replacements) * len(text) <= _FIND_BUDGET:
        for value, replacement in replacements.items():
            position = text.find(value)
            while position != -1:
                found.append((position, position + len(value), replacement))
                position = text.find(value, position + len(value))
    else:
        width = min(8, *(len(v) for v in replacements))
        longest = max(len(v) for v in replacements)
        by_prefix: dict[str, list[str]] = {}
        for value in sorted(replacements, key=len, reverse=True):
            by_prefix.setdefault(value[:width], []).append(value)
        first = re.compile("[" + "".join(sorted({re.escape(v[0]) for v in replacements})) + "]")
        gap_start = 0
        for span_start, span_end in [*taken, (len(text), len(text))]:
            # A missed occurrence starts in a gap between edits (it may run into the next one).
            for hit in first.finditer(text, gap_start, min(len(text), span_start + longest)):
                position = hit.start()
                if position >= span_start:
                    break
                for value in by_prefix.get(text[position : position + width], ()):
                    if text.startswith(value, position):
                        found.append((position, position + len(value), replacements[value]))
                        break
            gap_start = max(gap_start, span_end)
    found.sort()
    index = 0
    last_end = 0
    for start, end, replacement in found:
        while index < len(taken) and taken[index][1] <= start:
            index += 1
        if start < last_end or (index < len(taken) and taken[index][0] < end):
            continue
        edits.append((start, end, replacement))
        last_end = end
