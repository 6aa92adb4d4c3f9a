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

from vaultgate.detect.pii_rules import RULES, Entity, PiiRule

_DIGIT = re.compile(r"\d")


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
        has_digit: bool | None = None
        taken: list[tuple[int, int]] = []
        found: list[PiiMatch] = []
        wanted = self.entities
        for rule in self.rules:
            need = rule.needs
            if need == "0":
                if has_digit is None:
                    has_digit = _DIGIT.search(text) is not None
                if not has_digit:
                    continue
            elif need not in text:
                continue
            check = rule.check
            for match in rule.pattern.finditer(text):
                span = check(match, text)
                if span is None:
                    continue
                entity, start, end = span
                if entity in wanted and _claim(taken, start, end):
                    found.append(PiiMatch(entity, start, end, text[start:end]))
        if self.names is not None:
            for start, end in self.names.find(text):
                if _claim(taken, start, end):
                    found.append(PiiMatch(Entity.PERSON, start, end, text[start:end]))
        found.sort(key=lambda m: m.start)
        return found


def _claim(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    """Record ``[start, end)`` unless it overlaps a span already taken."""
    index = bisect.bisect_left(taken, (start, end))
    if index > 0 and taken[index - 1][1] > start:
        return False
    if index < len(taken) and taken[index][0] < end:
        return False
    taken.insert(index, (start, end))
    return True
