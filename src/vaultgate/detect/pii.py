"""Find personal data in text: the validated-format rules, plus an optional name recogniser.

Pure (no I/O). The gateway's privacy stage calls :meth:`PiiDetector.find` once per request on
all the request's strings joined by NUL (no rule matches across a NUL), so the fixed cost
of a pass is paid once, not once per string.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vaultgate.detect.pii_rules import NUMERIC_RUN, RULES, Entity, PiiRule

_NO_DIGITS = str.maketrans("", "", "0123456789")


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One value of personal data: its type and where it is (character offsets)."""

    entity: Entity
    start: int
    end: int
    value: str = field(repr=False)


class NameRecogniser(Protocol):
    """A model that finds person names (an optional extra): spans of ``text``."""

    name: str

    def find(self, text: str) -> Iterable[tuple[int, int]]:
        """``(start, end)`` of each person name in ``text``."""
        ...


class PiiDetector:
    """The rules for the wanted entity types, compiled once; optionally a name recogniser."""

    def __init__(
        self,
        entities: Iterable[Entity] = tuple(Entity),
        *,
        names: NameRecogniser | None = None,
        rules: Sequence[PiiRule] = RULES,
    ) -> None:
        wanted = frozenset(entities)
        self.rules = tuple(r for r in rules if wanted.intersection(r.entities))
        self.entities = wanted
        self.names = names if Entity.PERSON in wanted else None

    @property
    def active(self) -> tuple[str, ...]:
        """Names of the active recognisers, for the start-up log line."""
        found = [r.name for r in self.rules]
        if self.names is not None:
            found.append(f"person ({self.names.name})")
        return tuple(found)

    def find(self, text: str) -> list[PiiMatch]:
        """Every non-overlapping match in ``text``, in order; earlier rules win overlaps."""
        runs: list[tuple[int, int, int, str]] | None = None
        lowered: str | None = None
        taken: list[tuple[int, int]] = []
        found: list[PiiMatch] = []
        wanted = self.entities
        length = len(text)
        for rule in self.rules:
            hint = rule.hint
            if hint is not None and hint.search(text) is None:
                continue
            if rule.words:
                if lowered is None:
                    lowered = text.lower()
                if not any(word in lowered for word in rule.words):
                    continue
            if rule.near_hint and hint is not None:
                windows = _near(hint, text, rule.near_hint)
            elif rule.min_digits:
                if runs is None:
                    runs = _numeric_runs(text)
                # Two characters past the run, so the rule's look-ahead still sees what follows.
                least, test = rule.min_digits, rule.run_test
                windows = [
                    (s, min(length, e + 2))
                    for s, e, digits, run in runs
                    if digits >= least and (test is None or test(run))
                ]
            else:
                windows = [(0, length)]
            check = rule.check
            pattern = rule.pattern
            for position, window_end in windows:
                # search() in a loop: cheaper than finditer() for the few hits in a small window.
                match = pattern.search(text, position, window_end)
                while match is not None:
                    span = check(match, text)
                    if span is not None:
                        entity, start, end = span
                        if entity in wanted and _claim(taken, start, end):
                            found.append(PiiMatch(entity, start, end, text[start:end]))
                    position = match.end() if match.end() > match.start() else match.start() + 1
                    match = pattern.search(text, position, window_end)
        if self.names is not None:
            for start, end in self.names.find(text):
                if _claim(taken, start, end):
                    found.append(PiiMatch(Entity.PERSON, start, end, text[start:end]))
        found.sort(key=lambda m: m.start)
        return found


def _near(hint: re.Pattern[str], text: str, reach: int) -> list[tuple[int, int]]:
    """Windows of ``reach`` characters around each match of ``hint``, merged where they overlap."""
    windows: list[tuple[int, int]] = []
    length = len(text)
    for match in hint.finditer(text):
        start, end = max(0, match.start() - reach), min(length, match.end() + reach)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _numeric_runs(text: str) -> list[tuple[int, int, int, str]]:
    """(start, end, digit count, text) of each run of digits and separators long enough to hold a value."""
    runs = []
    for match in NUMERIC_RUN.finditer(text):
        run = match.group()
        runs.append((match.start(), match.end(), len(run) - len(run.translate(_NO_DIGITS)), run))
    return runs


def _claim(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    """Record ``[start, end)`` unless it overlaps a span already taken."""
    index = bisect.bisect_left(taken, (start, end))
    if index > 0 and taken[index - 1][1] > start:
        return False
    if index < len(taken) and taken[index][0] < end:
        return False
    taken.insert(index, (start, end))
    return True
